'use strict'
// node:cluster (the node-cluster variant): the primary forks SERVICE_WORKERS workers, which share
// the port (the primary accepts connections and hands them out in turn), replaces a worker that
// dies, forwards SIGTERM and exits once every worker has; and it answers the workers' requests
// for the whole service's metrics, which it adds up from every worker's and its own process
// figures (metrics.js).

const cluster = require('node:cluster')
const metrics = require('./metrics')

const COLLECT = 'asynclab:collect' // primary -> worker: your metrics, please
const COLLECTED = 'asynclab:collected' // worker -> primary: here they are
const SERVICE = 'asynclab:service-metrics' // worker -> primary: the whole service's, please
const SERVED = 'asynclab:service-metrics-text' // primary -> worker: here they are
// A worker that does not answer in time (busy, or exiting) is left out of one scrape.
const COLLECT_TIMEOUT_MS = 2000
// After SIGTERM: workers answer what they hold within 5 s (server.js); then they are killed.
const KILL_AFTER_MS = 7000

function runPrimary (config) {
  const own = metrics.primaryMetrics(config)
  let stopping = false
  let nextId = 0
  const pending = new Map() // request id -> {waiting, results, done}

  const fork = () => cluster.fork()
  for (let i = 0; i < config.workers; i++) fork()
  const served = new Set() // workers that listened: a worker that dies before is not replaced
  cluster.on('listening', (worker) => served.add(worker.id))

  cluster.on('exit', (worker, code, signal) => {
    if (!stopping && served.has(worker.id)) {
      console.error(`worker ${worker.process.pid} exited (${signal || code}); starting another`)
      fork()
    } else if (!stopping) {
      // It could not start (its error is in the log above): another would fail alike.
      console.error(`worker ${worker.process.pid} failed to start (${signal || code}); stopping`)
      stop('SIGTERM', 1)
    } else if (Object.keys(cluster.workers).length === 0) {
      process.exit(exitCode)
    }
  })

  cluster.on('message', (worker, message) => {
    if (message === null || typeof message !== 'object') return
    if (message.type === SERVICE) {
      serviceMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: SERVED, id: message.id, text }),
        (error) => worker.isConnected() && worker.send({ type: SERVED, id: message.id, error: String(error) })
      )
    } else if (message.type === COLLECTED) {
      const request = pending.get(message.id)
      if (request === undefined) return
      request.results.push(message.metrics)
      if (--request.waiting === 0) request.done()
    }
  })

  async function serviceMetrics () {
    const workers = Object.values(cluster.workers).filter((w) => w.isConnected())
    const id = nextId++
    const results = [await own.getMetricsAsJSON()]
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, COLLECT_TIMEOUT_MS)
      pending.set(id, {
        waiting: workers.length,
        results,
        done: () => {
          clearTimeout(timer)
          resolve()
        }
      })
      if (workers.length === 0) resolve()
      for (const w of workers) w.send({ type: COLLECT, id })
    })
    pending.delete(id)
    return metrics.aggregate(results)
  }

  let exitCode = 0
  function stop (signal, code = 0) {
    if (stopping) return
    stopping = true
    exitCode = code
    // The lab signals the whole process group; a worker signalled twice stops once.
    for (const w of Object.values(cluster.workers)) w.process.kill(signal)
    setTimeout(() => {
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL')
      process.exit(exitCode)
    }, KILL_AFTER_MS).unref()
    if (Object.keys(cluster.workers).length === 0) process.exit(exitCode)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGTERM'))
}

// In a worker: answer the primary's COLLECT with this process's metrics, and ask it for the
// whole service's text.
function workerMetrics (local) {
  let nextId = 0
  const waiting = new Map()
  process.on('message', (message) => {
    if (message === null || typeof message !== 'object') return
    if (message.type === COLLECT) {
      local.json().then((json) => process.send({ type: COLLECTED, id: message.id, metrics: json }))
    } else if (message.type === SERVED) {
      const request = waiting.get(message.id)
      if (request === undefined) return
      waiting.delete(message.id)
      if (message.error) request.reject(new Error(message.error))
      else request.resolve(message.text)
    }
  })
  return () =>
    new Promise((resolve, reject) => {
      const id = nextId++
      waiting.set(id, { resolve, reject })
      process.send({ type: SERVICE, id })
    })
}

module.exports = { runPrimary, workerMetrics, isPrimary: () => cluster.isPrimary }
