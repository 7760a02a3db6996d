// asynclab-go: the lab's Go reference service, docs/contract.md served with net/http, pgx v4's
// pgxpool and client_golang, beside the Flask and FastAPI services it must answer like.
//
//	asynclab-go --host 127.0.0.1 --port 8005
//
// Configured by the SERVICE_* environment the lab gives every service (config.go); built by
// services/go/build.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	// docs/contract.md, "Connections, limits and shutdown": the keep-alive idle timeout and the
	// deadline on a request head, and how long a stopping service answers what it holds.
	idleTimeout     = 5 * time.Second
	headTimeout     = 5 * time.Second
	shutdownTimeout = 5 * time.Second
	// Far above the contract's head limits (100 fields of 8190 bytes and a 4094-byte line make
	// 823 KB), so that the service, not Go's server, refuses a head past them, with the
	// contract's answer; a head past this gets Go's own 431.
	maxHeaderBytes = 1 << 20
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("asynclab-go: ")
	cfg, err := loadConfig(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if cfg.printRoutes {
		for _, rt := range (&service{metrics: &metrics{}}).routes() {
			for _, method := range rt.allowed() {
				fmt.Println(method, rt.template)
			}
		}
		return
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

func run(cfg config) error {
	rand.Seed(time.Now().UnixNano()) // Go 1.19's global source starts from the same seed
	document, err := os.ReadFile(cfg.openapiPath)
	if err != nil {
		return fmt.Errorf("the OpenAPI document (SERVICE_OPENAPI_PATH): %w", err)
	}
	db, err := openDatabase(cfg)
	if err != nil {
		return fmt.Errorf("SERVICE_DATABASE_URL: %w", err)
	}
	defer db.close()
	s := &service{
		db: db, up: newUpstream(cfg), openapi: document,
		server: []string{"asynclab-" + cfg.name},
	}
	if cfg.metricsEnabled {
		s.metrics = newMetrics(cfg, db)
	}
	s.router = newRouter(s.routes())
	db.warm()

	ln, err := listen(cfg.host, cfg.port)
	if err != nil {
		return err
	}
	server := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: headTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	log.Printf("serving %s (%s) on %s", cfg.name, cfg.variant, ln.Addr())

	select {
	case err := <-served:
		return err
	case <-stop:
	}
	// Stop accepting, answer everything held (in flight and in the backlog), then exit.
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		log.Printf("stopping: %v", err)
	}
	return nil
}
