'use strict'
// The contract's error body, and every failure it names (services/common/errors.py, word for word).
//
// {"error": "validation_error",
//  "detail": [{"field": "work", "in": "query", "type": "less_than_equal", "message": "..."}]}

const { MAX_BODY_BYTES, MAX_WAIT_MS } = require('./models')
const limits = require('./limits')

class ApiError extends Error {
  constructor (status, error, detail, headers = null) {
    super(error)
    this.status = status
    this.error = error
    this.detail = detail
    this.headers = headers
  }

  // JSON.stringify writes what Python's json.dumps(ensure_ascii=False, separators=(",", ":"))
  // writes for strings: the same escapes, non-ASCII as it is, keys in insertion order.
  body () {
    return JSON.stringify({ error: this.error, detail: this.detail })
  }
}

function issue (field, where, type, message) {
  return { field, in: where, type, message }
}

function validationError (detail) {
  return new ApiError(422, 'validation_error', detail)
}

function notFound (path) {
  return new ApiError(404, 'not_found', [issue('path', 'path', 'not_found', `no route for ${path}`)])
}

function itemNotFound (id) {
  return new ApiError(404, 'not_found', [issue('id', 'path', 'not_found', `no item ${id}`)])
}

function methodNotAllowed (method, allowed) {
  // OPTIONS is not served; HEAD is, wherever GET is (RFC 9110).
  const methods = [...new Set(allowed)].filter((m) => m && m !== 'OPTIONS').sort()
  const message = `${method} is not allowed here; use ${methods.join(', ')}`
  return new ApiError(405, 'method_not_allowed', [issue('method', 'request', 'not_allowed', message)], {
    allow: methods.join(', ')
  })
}

function payloadTooLarge () {
  const message = `the body is larger than ${MAX_BODY_BYTES} bytes`
  return new ApiError(413, 'payload_too_large', [issue('body', 'body', 'too_large', message)])
}

function unsupportedMediaType (mimetype) {
  const message = `send the body as application/json, not ${mimetype || 'nothing'}`
  return new ApiError(415, 'unsupported_media_type', [
    issue('content-type', 'header', 'unsupported_media_type', message)
  ])
}

function malformedJson () {
  return new ApiError(400, 'malformed_json', [
    issue('body', 'body', 'json_invalid', 'the body is not valid JSON')
  ])
}

function databaseUnavailable () {
  const message = 'the database did not answer in time'
  return new ApiError(503, 'database_unavailable', [
    issue('database', 'dependency', 'unavailable', message)
  ])
}

function upstreamUnavailable () {
  const message = 'the upstream did not answer'
  return new ApiError(502, 'upstream_unavailable', [
    issue('upstream', 'dependency', 'unavailable', message)
  ])
}

function requestLineTooLong () {
  const message = `the request line is longer than ${limits.MAX_REQUEST_LINE} bytes; shorten the URL`
  return new ApiError(414, 'uri_too_long', [issue('url', 'request', 'too_long', message)])
}

function headerFieldsTooLarge () {
  const message =
    `send at most ${limits.MAX_HEADER_FIELDS} header fields ` +
    `of at most ${limits.MAX_HEADER_FIELD_BYTES} bytes each`
  return new ApiError(431, 'header_fields_too_large', [
    issue('headers', 'header', 'too_large', message)
  ])
}

function repeatedHeader (name) {
  const message = `send one ${name} header, not several`
  return new ApiError(400, 'repeated_header', [issue(name, 'header', 'repeated', message)])
}

// Node's only: a head that is not HTTP/1.x. The Python servers answer it in their own words
// (docs/contract.md, Named differences, malformed-http); this one answers in the contract's.
function malformedRequest () {
  const message = 'the request head is not valid HTTP/1.1'
  return new ApiError(400, 'malformed_request', [issue('request', 'request', 'malformed', message)])
}

function overWaitBudget (calls, ms) {
  const total = calls * ms
  const message =
    `calls x ms should be at most ${MAX_WAIT_MS} (the longest wait of one request), ` +
    `not ${calls} x ${ms} = ${total}`
  return validationError(['calls', 'ms'].map((name) => issue(name, 'query', 'wait_budget', message)))
}

function internalError () {
  return new ApiError(500, 'internal_error', [
    issue('server', 'server', 'internal_error', 'unexpected server error')
  ])
}

module.exports = {
  ApiError,
  issue,
  validationError,
  notFound,
  itemNotFound,
  methodNotAllowed,
  payloadTooLarge,
  unsupportedMediaType,
  malformedJson,
  databaseUnavailable,
  upstreamUnavailable,
  requestLineTooLong,
  headerFieldsTooLarge,
  repeatedHeader,
  malformedRequest,
  overWaitBudget,
  internalError
}
