'use strict'
// The Fastify application: one handler per row of the route table (routes.js), and Fastify's
// own answers (404, wrong method, errors, HEAD) worded as the contract's JSON.
//
// Routing: the server has already matched the target as Starlette does (http-server.js); the
// request reaches Fastify under the matched route's own path (rewriteUrl), so find-my-way picks
// that route, or the not-found handler, which tells a wrong method (405) from an unknown path
// (404). Bodies: none is read but POST /items', by its handler, as the FastAPI service reads
// it (413 first, then 415, then the JSON); Fastify reads no body itself, so that a 404 or a 405
// never depends on one.

const fs = require('node:fs')
const Fastify = require('fastify')
const errors = require('./errors')
const validation = require('./validation')
const work = require('./work')
const routes = require('./routes')
const target = require('./target')
const { createServer, TARGET } = require('./http-server')
const { MAX_BODY_BYTES } = require('./models')
const { CONTENT_TYPE: METRICS_TYPE } = require('./metrics')

const { ApiError } = errors
const PLAINTEXT = Buffer.from('Hello, World!')
// The methods whose bodies Fastify parses itself (its kSupportedHTTPMethods.bodywith).
const BODY_METHODS = ['DELETE', 'OPTIONS', 'PATCH', 'PUT', 'POST', 'QUERY']

// What each row's ``call`` names: (arguments) -> payload, or a promise of it. A payload is
// encoded with JSON.stringify, unless it is already text (a float inside: pyjson.js) or bytes.
function calls (config, database, upstream, metrics) {
  const openapi = fs.readFileSync(config.openapiPath)
  return {
    // A new object for every request, then encoded: TechEmpower's JSON test asks for that.
    hello: () => ({ message: 'Hello, World!' }),
    plaintext: () => PLAINTEXT,
    world: () => database.world(),
    worlds: (n) => database.worlds(n),
    updateWorlds: (n) => database.updateWorlds(n),
    fortunes: () => database.fortunes(),
    cpuPython: (steps) => ({ work: steps, result: work.cpuPython(steps) }),
    cpuNative: async (iterations) => ({ work: iterations, result: await work.cpuNative(iterations) }),
    sleep: (ms) => database.sleep(ms),
    upstream: (ms) => upstream.call(ms),
    // A timer on the event loop: a wait with nothing behind it, which holds no slot.
    pause: (ms) => new Promise((resolve) => setTimeout(resolve, ms, { ms })),
    fanout: (count, ms) => upstream.fanout(count, ms),
    pitfallSleep: (ms) => {
      work.blockingSleep(ms)
      return { ms }
    },
    insertItem: (item) => database.insertItem(item),
    getItem: (id) => database.getItem(id),
    healthy: () => ({ status: 'ok' }),
    ping: () => database.ping(),
    openapi: () => openapi,
    metrics: () => metrics.render()
  }
}

// The arguments of a row's call, from the query, the path's fields or the body (4xx naming
// the field where they are bad).
function argumentsOf (route) {
  switch (route.params) {
    case null:
      return () => []
    case 'Queries':
      return (request) => [validation.clampQueries(request.query.queries)]
    case 'ItemIn':
      return async (request) => {
        const body = await readBody(request)
        return [validation.parseItem(request.headers['content-type'], body)]
      }
    case 'ItemId':
      return (request) => validation.parseParams('ItemId', request.raw[TARGET].match.params, 'path')
    case 'Fanout':
      return (request) => {
        const args = validation.parseParams('Fanout', request.query, 'query')
        validation.checkWaitBudget(args)
        return args
      }
    default:
      return (request) => validation.parseParams(route.params, request.query, 'query')
  }
}

function handlerOf (route, call) {
  const parse = argumentsOf(route)
  const { status } = route
  const type = route.call === 'metrics' ? METRICS_TYPE : route.mediaType
  const json = type === routes.JSON_TYPE
  return async function handler (request, reply) {
    const args = await parse(request)
    const payload = await call(...args)
    const text = json && typeof payload === 'object' && !Buffer.isBuffer(payload)
      ? JSON.stringify(payload)
      : payload
    return reply.code(status).type(type).send(bytes(text))
  }
}

// Bodies go to Fastify as bytes: it would add "; charset=utf-8" to a JSON string's type, which
// the Python services do not send.
function bytes (body) {
  return Buffer.isBuffer(body) ? body : Buffer.from(body)
}

// FastAPI's read_body: refused (413) past 64 KiB by its Content-Length, or once that much has
// come, without reading the rest. Read from the request itself: the stream is not destroyed on
// a refusal (the answer still goes out on its connection).
function readBody (request) {
  const length = request.headers['content-length']
  if (length !== undefined && Number(length) > MAX_BODY_BYTES) throw errors.payloadTooLarge()
  const stream = request.raw
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    const stop = (settle, value) => {
      stream.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
      settle(value)
    }
    const onData = (chunk) => {
      size += chunk.length
      if (size > MAX_BODY_BYTES) return stop(reject, errors.payloadTooLarge())
      chunks.push(chunk)
    }
    const onEnd = () => stop(resolve, Buffer.concat(chunks))
    const onError = (error) => stop(reject, error)
    const onClose = () => stop(reject, new Error('the client went away before its body ended'))
    stream.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
  })
}

function sendError (reply, error) {
  if (error.headers) reply.headers(error.headers)
  return reply.code(error.status).type('application/json').send(bytes(error.body()))
}

function build (config, { database, upstream, metrics }) {
  const app = Fastify({
    logger: false,
    serverFactory: (handler) => createServer(config, metrics && metrics.local, handler),
    // The path of the route the server matched (or one no route has), and the query as sent.
    rewriteUrl: (req) => {
      const { match, query } = req[TARGET]
      const path = match === null ? '/<unmatched>' : routed(match)
      return query === '' ? path : `${path}?${query}`
    },
    routerOptions: { querystringParser: target.parseQuery, maxParamLength: 65536 },
    // While closing, requests on open connections are answered as always (not with 503).
    return503OnClosing: false,
    forceCloseConnections: 'idle'
  })

  // Fastify would read (or refuse) the body of these methods before any handler, the not-found
  // one included: declared bodiless, they reach the handlers as GET does.
  for (const method of BODY_METHODS) app.addHttpMethod(method, { hasBody: false, overrideExisting: true })

  const table = calls(config, database, upstream, metrics)
  for (const route of routes.ROUTES) {
    if (route.call === 'metrics' && metrics === null) continue
    app.route({
      method: route.method,
      url: routes.fastifyPath(route.path),
      handler: handlerOf(route, table[route.call])
    })
  }

  app.setNotFoundHandler((request, reply) => {
    const { match, decoded } = request.raw[TARGET]
    if (match === null) return sendError(reply, errors.notFound(target.urlPath(decoded)))
    return sendError(reply, errors.methodNotAllowed(request.method, routes.methods(match.rows)))
  })

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) return sendError(reply, error)
    console.error(`unhandled error on ${request.method} ${request.url}:`, error)
    return sendError(reply, errors.internalError())
  })

  return app
}

// The path under which Fastify finds the matched route: its own, with the path's parameter
// escaped again (find-my-way decodes it).
function routed (match) {
  const path = match.rows[0].path
  if (match.params === null) return path
  return path.replace('{id}', encodeURIComponent(match.params.id))
}

module.exports = { build }
