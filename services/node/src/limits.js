'use strict'
// The request-head limits every service shares (services/common/limits.py: gunicorn's defaults).
//
// Node's parser has its own, different limits (16 KiB of head in all, 2000 fields): the server
// is configured past them (http-server.js), so that these, checked on every request before the
// application sees it, are the ones that apply, with the same answers as
// services/fastapi/limits.py gives.

const MAX_REQUEST_LINE = 4094 // bytes of "METHOD target HTTP/1.1", without its CRLF
const MAX_HEADER_FIELDS = 100
const MAX_HEADER_FIELD_BYTES = 8190 // bytes of "Name: value" with its CRLF
// Every head within the limits above fits in this (line, 100 fields, CRLFs): Node's own limit
// must be above it, and any head past it is past one of the limits anyway.
const MAX_HEAD_BYTES = 1024 * 1024

// " HTTP/1.1" after the target, the space after the method.
const LINE_OVERHEAD = ' HTTP/1.1'.length + 1
// As gunicorn counts a field: "Name: value" and its CRLF (Node, like httptools, strips the
// whitespace around the value).
const FIELD_OVERHEAD = ': \r\n'.length

// What gunicorn would refuse this request for, in gunicorn's order: the line, then each field in
// turn (one too many, too long, Content-Type or Host repeated). Lengths in bytes: Node reads the
// target and the fields as latin-1, one character a byte. Returns the ApiError or null; the
// caller passes errors.js, which itself needs the numbers above.
function refusal (req, errors) {
  if (req.method.length + req.url.length + LINE_OVERHEAD > MAX_REQUEST_LINE) {
    return errors.requestLineTooLong()
  }
  const raw = req.rawHeaders
  let contentType = false
  let host = false
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (i === MAX_HEADER_FIELDS * 2 || name.length + raw[i + 1].length + FIELD_OVERHEAD > MAX_HEADER_FIELD_BYTES) {
      return errors.headerFieldsTooLarge()
    }
    // Cheap before exact: most names are neither length.
    if (name.length === 12 && name.toLowerCase() === 'content-type') {
      if (contentType) return errors.repeatedHeader('content-type')
      contentType = true
    } else if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host) return errors.repeatedHeader('host')
      host = true
    }
  }
  return null
}

module.exports = {
  MAX_REQUEST_LINE,
  MAX_HEADER_FIELDS,
  MAX_HEADER_FIELD_BYTES,
  MAX_HEAD_BYTES,
  refusal
}
