'use strict'
// The routes of docs/contract.md (services/common/routes.py's table, plus /openapi.json and
// /metrics), and how a decoded path finds one: as Starlette finds it.
//
// A row: method, path (Starlette's syntax), params (a key of models.PARAMS, 'Queries' or
// 'ItemIn': what validates the query, the path or the body), call (a backend method's name,
// or a function of work.js), status and media type.

const JSON_TYPE = 'application/json'
const TEXT = 'text/plain; charset=utf-8'
const HTML = 'text/html; charset=utf-8'

function route (method, path, params, call, { status = 200, mediaType = JSON_TYPE } = {}) {
  return { method, path, params, call, status, mediaType }
}

const ROUTES = [
  route('GET', '/json', null, 'hello'),
  route('GET', '/plaintext', null, 'plaintext', { mediaType: TEXT }),
  route('GET', '/db', null, 'world'),
  route('GET', '/queries', 'Queries', 'worlds'),
  route('GET', '/updates', 'Queries', 'updateWorlds'),
  route('GET', '/fortunes', null, 'fortunes', { mediaType: HTML }),
  route('GET', '/cpu/python', 'WorkPython', 'cpuPython'),
  route('GET', '/cpu/native', 'WorkNative', 'cpuNative'),
  route('GET', '/io/db', 'Wait', 'sleep'),
  route('GET', '/io/upstream', 'Wait', 'upstream'),
  route('GET', '/io/sleep', 'Wait', 'pause'),
  route('GET', '/fanout', 'Fanout', 'fanout'),
  route('GET', '/pitfall/blocking', 'Wait', 'pitfallSleep'),
  route('POST', '/items', 'ItemIn', 'insertItem', { status: 201 }),
  route('GET', '/items/{id}', 'ItemId', 'getItem'),
  route('GET', '/healthz', null, 'healthy'),
  route('GET', '/readyz', null, 'ping'),
  route('GET', '/openapi.json', null, 'openapi'),
  route('GET', '/metrics', null, 'metrics')
]

const METRICS_PATH = '/metrics'
const ITEM_PREFIX = '/items/'
const STATIC = new Map()
for (const r of ROUTES) {
  if (!r.path.includes('{')) {
    const rows = STATIC.get(r.path) || []
    rows.push(r)
    STATIC.set(r.path, rows)
  }
}
const ITEM_ROUTES = ROUTES.filter((r) => r.path === '/items/{id}')

// The routes whose path matches ``decoded`` (whatever their method), and the path's
// parameters: Starlette's ``^/json$``, where Python's '$' also matches before a final newline,
// and ``^/items/(?P<id>[^/]+)$``.
function match (decoded) {
  const rows = STATIC.get(decoded) || (decoded.endsWith('\n') && STATIC.get(decoded.slice(0, -1)))
  if (rows) return { rows, params: null }
  if (decoded.startsWith(ITEM_PREFIX)) {
    const id = decoded.slice(ITEM_PREFIX.length)
    if (id !== '' && !id.includes('/')) return { rows: ITEM_ROUTES, params: { id } }
  }
  return null
}

// The methods a path's routes serve (HEAD wherever GET), for 405's Allow.
function methods (rows) {
  return rows.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method]))
}

// Fastify's syntax for a Starlette path: /items/{id} -> /items/:id.
function fastifyPath (path) {
  return path.replace(/\{(\w+)\}/g, ':$1')
}

module.exports = { ROUTES, METRICS_PATH, JSON_TYPE, TEXT, HTML, match, methods, fastifyPath }
