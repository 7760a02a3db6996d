package main

// The metrics of docs/contract.md, with services/common/metrics.py's names, help texts, labels
// and buckets, in a registry of their own (no go_* metrics: the Python services export none of
// their runtime's either). No event_loop_lag_seconds: there is no event loop to lag.

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/procfs"
)

const (
	unmatchedRoute = "<unmatched>"
	// prometheus_client's CONTENT_TYPE_LATEST, which the Python services send.
	metricsContentType = "text/plain; version=1.0.0; charset=utf-8"
)

var latencyBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
	0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
}

// Any token is a valid HTTP method; anything unusual shares one label value, like unknown routes.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newMetrics(cfg config, db *database) *metrics {
	labels := prometheus.Labels{"service": cfg.name, "variant": cfg.variant}
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", ConstLabels: labels,
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", ConstLabels: labels, Buckets: latencyBuckets,
			Help: "Time from the request reaching the framework to the response being sent.",
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", ConstLabels: labels,
			Help: "Requests being handled right now.",
		}),
	}
	pool := func(name, help string, value func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, value)
	}
	m.registry.MustRegister(m.requests, m.duration, m.inFlight,
		pool("db_pool_size", "Open database connections in the pools of all workers.", func() float64 {
			size, _, _ := db.stats()
			return float64(size)
		}),
		pool("db_pool_in_use", "Database connections lent to a request right now.", func() float64 {
			_, inUse, _ := db.stats()
			return float64(inUse)
		}),
		pool("db_pool_waiting", "Requests waiting for a database connection.", func() float64 {
			_, _, waiting := db.stats()
			return float64(waiting)
		}),
		newProcessCollector(labels),
	)
	return m
}

// observe records one answered request: its route template (or <unmatched>), its method
// (OTHER for a token outside the usual ones), its status and how long it took.
func (m *metrics) observe(route, method string, status int, elapsed time.Duration) {
	if !knownMethods[method] {
		method = "OTHER"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// render is the /metrics body in Prometheus' text format.
func (m *metrics) render() ([]byte, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for _, family := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, family); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func (m *metrics) handle(*http.Request, params) (answer, *apiError) {
	body, err := m.render()
	if err != nil {
		return answer{}, internalError()
	}
	return answer{200, metricsContentType, body}, nil
}

// processCollector is the process metrics of the contract, with the service's labels (the
// client library's own collector has none, and more metrics): read from /proc at scrape time.
type processCollector struct {
	cpu, rss, fds *prometheus.Desc
}

func newProcessCollector(labels prometheus.Labels) *processCollector {
	return &processCollector{
		cpu: prometheus.NewDesc("process_cpu_seconds_total", "User and system CPU time of all processes.", nil, labels),
		rss: prometheus.NewDesc("process_resident_memory_bytes", "Resident memory of all processes.", nil, labels),
		fds: prometheus.NewDesc("process_open_fds", "Open file descriptors.", nil, labels),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.rss
	ch <- c.fds
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	proc, err := procfs.Self()
	if err != nil {
		return
	}
	if stat, err := proc.Stat(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, stat.CPUTime())
		ch <- prometheus.MustNewConstMetric(c.rss, prometheus.GaugeValue, float64(stat.ResidentMemory()))
	}
	if fds, err := proc.FileDescriptorsLen(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.fds, prometheus.GaugeValue, float64(fds))
	}
}
