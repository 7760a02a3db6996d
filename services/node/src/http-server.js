'use strict'
// The HTTP server under Fastify (its serverFactory): what uvicorn and the FastAPI service's outer
// middleware do before the application sees a request, the same way.
//
// - Node's parser is set past its own limits (16 KiB of head) and the contract's head limits are
//   checked on every request (limits.js), with the same 414 / 431 / 400 JSON.
// - The target is read as uvicorn reads it (target.js) and matched as Starlette matches
//   (routes.js); Fastify then routes on the matched route's own path (app.js, rewriteUrl).
// - Every answer has `Server: asynclab-<name>` (Node adds Date), its own refusals of malformed
//   heads included, which are the contract's JSON too.
// - Keep-alive: an idle connection is closed after 5 s; a request head not complete within 5 s
//   of connecting or of the previous answer closes the connection without an answer.
// - Requests are counted and timed here (metrics.js), as FastAPI's metrics middleware does:
//   head-limit refusals and /metrics itself are not.

const http = require('node:http')
const errors = require('./errors')
const limits = require('./limits')
const target = require('./target')
const routes = require('./routes')
const { UNMATCHED } = require('./metrics')

const KEEP_ALIVE_MS = 5000
const HEAD_DEADLINE_MS = 5000
// How often Node looks for heads past their deadline: a slow head is closed within 5.25 s.
const CHECK_INTERVAL_MS = 250
const REASONS = http.STATUS_CODES

// What the request's target means, kept on the request for the application (app.js).
const TARGET = Symbol('asynclab.target')

function readTarget (url) {
  const parts = target.split(url)
  if (parts === null) return null
  const raw = parts.path
  // uvicorn decodes a path only where it has an escape; Starlette matches on the decoded path.
  const decoded = raw.includes('%') ? target.unquote(raw) : raw
  return { decoded, query: parts.query, match: routes.match(decoded) }
}

// Fastify's serverFactory: ``handler`` is Fastify's request handler.
function createServer (config, metrics, handler) {
  const serverName = `asynclab-${config.name}`
  const server = http.createServer(
    {
      maxHeaderSize: limits.MAX_HEAD_BYTES,
      requireHostHeader: false, // uvicorn asks for none
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: HEAD_DEADLINE_MS,
      requestTimeout: 0, // the body is not covered, as under uvicorn
      connectionsCheckingInterval: CHECK_INTERVAL_MS
    },
    listener
  )
  server.keepAliveTimeout = KEEP_ALIVE_MS
  server.headersTimeout = HEAD_DEADLINE_MS
  server.requestTimeout = 0
  server.on('clientError', (error, socket) => refuseHead(error, socket, serverName))

  function listener (req, res) {
    res.setHeader('server', serverName)
    const refused = limits.refusal(req, errors)
    if (refused !== null) return respond(res, refused, true)
    const read = readTarget(req.url)
    if (read === null) return respond(res, errors.malformedRequest(), true)
    req[TARGET] = read
    if (metrics === null || read.decoded === routes.METRICS_PATH) return handler(req, res)
    read.start = performance.now()
    metrics.inFlight++
    res.on('close', finished) // one shared function, no closure per request
    handler(req, res)
  }

  // A response sent, or its connection lost: `this` is the response.
  function finished () {
    const req = this.req
    const read = req[TARGET]
    metrics.inFlight--
    const route = read.match === null ? UNMATCHED : read.match.rows[0].path
    metrics.tally.record(route, req.method, this.statusCode, (performance.now() - read.start) / 1000)
  }

  return server
}

function respond (res, error, close) {
  const body = error.body()
  res.writeHead(error.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
    ...(error.headers || {})
  })
  res.end(body)
}

// Node's parser refused the head: Node would answer with a bare 400 (or 431, 408); this
// service answers as the contract words it. A head not complete in time gets no answer.
function refuseHead (error, socket, serverName) {
  const answered = socket._httpMessage && socket._httpMessage.headersSent
  if (error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || answered ||
      !socket.writable) {
    socket.destroy()
    return
  }
  const packet = error.rawPacket ? error.rawPacket.toString('latin1') : ''
  const refusal = error.code === 'HPE_HEADER_OVERFLOW'
    ? tooLarge(packet)
    : error.code === 'HPE_INVALID_METHOD' ? unknownMethod(packet) : errors.malformedRequest()
  const body = refusal.body()
  const headers = {
    Server: serverName,
    Date: new Date().toUTCString(),
    Connection: 'close',
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...(refusal.headers ? { Allow: refusal.headers.allow } : {})
  }
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  socket.end(`HTTP/1.1 ${refusal.status} ${REASONS[refusal.status]}\r\n${head}\r\n${body}`)
}

// A head past Node's own limit (1 MiB) is past one of the contract's: its line, if the packet
// shows the line, else the fields.
function tooLarge (packet) {
  const end = packet.indexOf('\r\n')
  const line = end >= 0 ? packet.slice(0, end) : packet
  if (/^[A-Z]+ /.test(line) && line.length > limits.MAX_REQUEST_LINE) return errors.requestLineTooLong()
  return errors.headerFieldsTooLarge()
}

// A method Node's parser does not know (any token is a method): the application's answer, as
// gunicorn lets Flask give it: 405 on a known path, 404 elsewhere.
function unknownMethod (packet) {
  const line = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]\r\n/.exec(packet)
  const read = line && readTarget(line[2])
  if (!read) return errors.malformedRequest()
  if (read.match === null) return errors.notFound(target.urlPath(read.decoded))
  return errors.methodNotAllowed(line[1], routes.methods(read.match.rows))
}

module.exports = { createServer, respond, TARGET }
