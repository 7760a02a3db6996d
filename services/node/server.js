'use strict'
// asynclab's Node reference service: `node services/node/server.js --host H --port P`.
//
// Fastify on one event loop (node-single), or SERVICE_WORKERS node:cluster workers sharing the
// port (node-cluster). Serves docs/contract.md like the Python services; the environment is
// theirs (asynclab/variants.py). On SIGTERM it stops accepting, answers every request it holds
// and exits, within 5 s.

const { parseArgs } = require('node:util')
const config = require('./src/config')
const cluster = require('./src/cluster')
const { Database } = require('./src/database')
const { Upstream } = require('./src/upstream')
const { Metrics } = require('./src/metrics')
const app = require('./src/app')

// What a stopping process may take to answer what it holds: uvicorn's graceful shutdown.
const GRACEFUL_MS = 5000
// The listen backlog of every server of the lab (asynclab/variants.py BACKLOG).
const BACKLOG = 2048

function options () {
  const { values } = parseArgs({
    options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' } }
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port should be a port number, not ${JSON.stringify(values.port)}`)
  }
  return { host: values.host, port }
}

async function serve (settings, where) {
  const database = new Database(settings)
  const upstream = new Upstream(settings)
  let metrics = null
  if (settings.metricsEnabled) {
    const local = new Metrics(settings, () => database.stats())
    const render = settings.workers > 1
      ? cluster.workerMetrics(local)
      : () => local.registry.metrics()
    metrics = { local, render }
    local.watchLoop()
  }
  const server = app.build(settings, { database, upstream, metrics })
  server.addHook('onClose', async () => {
    if (metrics) metrics.local.stop()
    await Promise.allSettled([upstream.close(), database.close()])
  })
  await database.open()
  await server.listen({ host: where.host, port: where.port, backlog: BACKLOG })

  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    setTimeout(() => {
      server.server.closeAllConnections()
      process.exit(0)
    }, GRACEFUL_MS).unref()
    server.close().then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

function main () {
  let settings, where
  try {
    settings = config.load()
    where = options()
  } catch (error) {
    console.error(error.message)
    process.exit(2)
  }
  if (settings.workers > 1 && cluster.isPrimary()) {
    cluster.runPrimary(settings)
    return
  }
  serve(settings, where).catch((error) => {
    console.error('cannot serve:', error)
    process.exit(1)
  })
}

main()
