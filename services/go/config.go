package main

// The service's configuration: the SERVICE_* environment the lab gives every service
// (services/common/config.py), and the command line (--host, --port). GOMAXPROCS is read by
// the Go runtime itself; the variant sets it.

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

type config struct {
	host, port         string
	name, variant      string
	databaseURL        string
	upstreamURL        string
	dbPoolSize         int
	httpPoolSize       int
	statementTimeoutMS int
	connectTimeout     time.Duration
	metricsEnabled     bool
	openapiPath        string
	printRoutes        bool
}

// errUsage is a command line the flag package has already explained (with the usage).
var errUsage = errors.New("usage")

// loadConfig reads the command line and the environment, or stops with one line per missing
// or invalid setting.
func loadConfig(args []string) (config, error) {
	var cfg config
	flags := flag.NewFlagSet("asynclab-go", flag.ContinueOnError)
	flags.StringVar(&cfg.host, "host", "127.0.0.1", "address to listen on")
	flags.StringVar(&cfg.port, "port", "8005", "port to listen on")
	flags.BoolVar(&cfg.printRoutes, "routes", false, "print the routes served, one \"METHOD /path\" a line, and exit")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errUsage
	}
	var problems []string
	text := func(name, fallback string, required bool) string {
		value, ok := os.LookupEnv(name)
		if !ok || value == "" {
			if required && !cfg.printRoutes {
				problems = append(problems, name+": required (see services/common/config.py)")
			}
			return fallback
		}
		return value
	}
	number := func(name string, fallback, min int) int {
		raw := text(name, "", false)
		if raw == "" {
			return fallback
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < min {
			problems = append(problems, fmt.Sprintf("%s: %q is not an integer of at least %d", name, raw, min))
		}
		return n
	}
	cfg.name = text("SERVICE_NAME", "go", true)
	cfg.variant = text("SERVICE_VARIANT", "unknown", true)
	cfg.databaseURL = text("SERVICE_DATABASE_URL", "", true)
	cfg.upstreamURL = strings.TrimRight(text("SERVICE_UPSTREAM_URL", "", true), "/")
	cfg.dbPoolSize = number("SERVICE_DB_POOL_SIZE", 10, 1)
	cfg.httpPoolSize = number("SERVICE_HTTP_POOL_SIZE", 100, 1)
	cfg.statementTimeoutMS = number("SERVICE_STATEMENT_TIMEOUT_MS", 30_000, 100)
	seconds := text("SERVICE_CONNECT_TIMEOUT_S", "3", false)
	if s, err := strconv.ParseFloat(seconds, 64); err != nil || !(s > 0) {
		problems = append(problems, fmt.Sprintf("SERVICE_CONNECT_TIMEOUT_S: %q is not a number of seconds above 0", seconds))
	} else {
		cfg.connectTimeout = time.Duration(s * float64(time.Second))
	}
	switch enabled := strings.ToLower(text("SERVICE_METRICS_ENABLED", "true", false)); enabled {
	case "true", "1", "yes", "on":
		cfg.metricsEnabled = true
	case "false", "0", "no", "off":
	default:
		problems = append(problems, fmt.Sprintf("SERVICE_METRICS_ENABLED: %q is not true or false", enabled))
	}
	cfg.openapiPath = text("SERVICE_OPENAPI_PATH", "services/common/openapi.json", false)
	if problems != nil {
		return cfg, fmt.Errorf("invalid service configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return cfg, nil
}
