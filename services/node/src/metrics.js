'use strict'
// The contract's metrics (docs/contract.md, "Metrics"; services/common/metrics.py), and only
// those, in prom-client's registry: the same names, types, labels and buckets as the Python
// services.
//
// A request is noted in plain counters here (a few property reads and increments: /json takes
// a few tens of microseconds), and becomes samples only when /metrics is read: prom-client's
// labelled metrics would hash five label values twice per request. Being on one thread, a
// scrape is always current (the Python workers' tallies may be 0.5 s stale).
//
// Under node:cluster every worker keeps its own registry and the primary adds them up
// (cluster.js) with prom-client's AggregatorRegistry: counters and histograms are summed, and so
// are gauges unless they say otherwise: the pool and in-flight gauges are sums (the Python
// services' "livesum"), the event loop's lag the worst worker's ("livemax"); the process
// figures are each process's own, summed with the primary's.

const fs = require('node:fs')
const client = require('prom-client')
const { pyFloat } = require('./pyjson')

// Python's prometheus_client's, for the same answer to GET /metrics (the text is the same).
const CONTENT_TYPE = 'text/plain; version=1.0.0; charset=utf-8'
const UNMATCHED = '<unmatched>'
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
  0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0
]
// Any token is a valid method; anything unusual shares one label value, like unknown routes.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
const LAG_INTERVAL_MS = 500

// The le labels as the Python services write them ("1.0", not "1"): one series per bucket in
// Prometheus whichever service is scraped.
const BOUNDS = [...LATENCY_BUCKETS.map(pyFloat), '+Inf']

// The per-process figures a registry reports: the process metrics of this process alone.
function processMetrics (registry, labels) {
  const common = { labelNames: Object.keys(labels), registers: [registry] }
  new client.Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time of all processes.',
    ...common,
    collect () {
      const { user, system } = process.cpuUsage()
      this.reset()
      this.inc(labels, (user + system) / 1e6)
    }
  })
  new client.Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory of all processes.',
    ...common,
    collect () {
      this.set(labels, process.memoryUsage.rss())
    }
  })
  new client.Gauge({
    name: 'process_open_fds',
    help: 'Open file descriptors.',
    ...common,
    collect () {
      this.set(labels, openFds())
    }
  })
}

function openFds () {
  try {
    return fs.readdirSync('/proc/self/fd').length
  } catch {
    return 0
  }
}

// Requests answered, by route template, method and status, and their durations: what
// prom-client's Counter and Histogram would hold, kept in plain objects until a scrape.
class RequestTally {
  constructor (labels) {
    this.labels = labels
    this.series = new Map() // route label -> method label -> {statuses, buckets, sum, count}
  }

  record (route, method, status, seconds) {
    let byMethod = this.series.get(route)
    if (byMethod === undefined) this.series.set(route, (byMethod = new Map()))
    const m = METHODS.has(method) ? method : 'OTHER'
    let s = byMethod.get(m)
    if (s === undefined) {
      s = { statuses: new Map(), buckets: new Float64Array(BOUNDS.length), sum: 0, count: 0 }
      byMethod.set(m, s)
    }
    s.statuses.set(status, (s.statuses.get(status) || 0) + 1)
    let i = 0
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++
    s.buckets[i]++
    s.sum += seconds
    s.count++
  }

  // prom-client's metric interface (registry.registerMetric): name, help, type, get().
  counter () {
    const tally = this
    return {
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route template, method and status.',
      type: 'counter',
      aggregator: 'sum',
      get () {
        const values = []
        tally.each((labels, s) => {
          for (const [status, count] of s.statuses) {
            values.push({ labels: { ...labels, status: String(status) }, value: count })
          }
        })
        return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
      },
      reset () {}
    }
  }

  histogram () {
    const tally = this
    const name = 'http_request_duration_seconds'
    return {
      name,
      help: 'Time from the request reaching the framework to the response being sent.',
      type: 'histogram',
      aggregator: 'sum',
      get () {
        const values = []
        tally.each((labels, s) => {
          let cumulative = 0
          BOUNDS.forEach((le, i) => {
            cumulative += s.buckets[i]
            values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` })
          })
          values.push({ labels, value: s.sum, metricName: `${name}_sum` })
          values.push({ labels, value: s.count, metricName: `${name}_count` })
        })
        return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
      },
      reset () {}
    }
  }

  each (fn) {
    for (const [route, byMethod] of this.series) {
      for (const [method, s] of byMethod) fn({ ...this.labels, route, method }, s)
    }
  }
}

// This process's metrics: requests (record, started, finished), the pool, the loop's lag.
class Metrics {
  constructor (config, poolStats) {
    const labels = { service: config.name, variant: config.variant }
    this.registry = new client.Registry()
    this.tally = new RequestTally(labels)
    this.inFlight = 0
    this.lag = 0
    this.registry.registerMetric(this.tally.counter())
    this.registry.registerMetric(this.tally.histogram())
    const metrics = this
    const gauge = (name, help, read, aggregator = 'sum') =>
      new client.Gauge({
        name,
        help,
        labelNames: Object.keys(labels),
        registers: [this.registry],
        aggregator,
        collect () {
          this.set(labels, read())
        }
      })
    gauge('http_requests_in_flight', 'Requests being handled right now.', () => metrics.inFlight)
    gauge('db_pool_size', 'Open database connections in the pools of all workers.', () => poolStats()[0])
    gauge('db_pool_in_use', 'Database connections lent to a request right now.', () => poolStats()[1])
    gauge('db_pool_waiting', 'Requests waiting for a database connection.', () => poolStats()[2])
    gauge('event_loop_lag_seconds',
      'How late a 0.5 s timer fires: time the event loop was blocked.', () => metrics.lag, 'max')
    processMetrics(this.registry, labels)
  }

  // A timer that measures how late it fires, as the FastAPI service's 0.5 s asyncio sleep does:
  // a handler that blocks the loop (/pitfall/blocking) shows up as lag.
  watchLoop () {
    const tick = () => {
      const start = performance.now()
      this.timer = setTimeout(() => {
        this.lag = Math.max(0, (performance.now() - start - LAG_INTERVAL_MS) / 1000)
        tick()
      }, LAG_INTERVAL_MS)
      this.timer.unref()
    }
    tick()
  }

  stop () {
    clearTimeout(this.timer)
  }

  json () {
    return this.registry.getMetricsAsJSON()
  }
}

// The /metrics text of several processes' metrics (each a getMetricsAsJSON()), added up.
function aggregate (metricsOfEach) {
  return client.AggregatorRegistry.aggregate(metricsOfEach).metrics()
}

// A registry of one process's process metrics only: the cluster's primary, which serves no
// requests but is part of the service.
function primaryMetrics (config) {
  const registry = new client.Registry()
  processMetrics(registry, { service: config.name, variant: config.variant })
  return registry
}

module.exports = { Metrics, aggregate, primaryMetrics, CONTENT_TYPE, UNMATCHED }
