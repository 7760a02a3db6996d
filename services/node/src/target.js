'use strict'
// What the FastAPI service makes of a request target, which this service must match exactly:
// uvicorn splits it (httptools) and percent-decodes the path, Starlette matches routes on the
// decoded path and parses the query with Python's parse_qsl. A client cannot tell the two
// services apart by how they read a URL (tests/contract, test_fuzz.py sends odd ones).

const utf8 = new TextDecoder('utf-8') // U+FFFD for bad bytes, as Python's errors='replace'
const ABSOLUTE = /^[A-Za-z]+:\/\/[^/?#]*/
const NON_ASCII = /[^\x00-\x7f]/
const ASCII_RUNS = /[\x00-\x7f]+/g
const ESCAPE = /%([0-9A-Fa-f]{2})/g

// The path and query of a request target as httptools splits it: origin form ("/json?x=1"),
// absolute form ("http://host/json"), or "*"; the fragment dropped. null for what uvicorn
// refuses as an invalid request (no path, a byte past ASCII in the path).
function split (target) {
  let rest = target
  if (target[0] !== '/' && target !== '*') {
    const authority = ABSOLUTE.exec(target)
    if (authority === null) return null
    rest = target.slice(authority[0].length)
    if (rest[0] !== '/') return null
  }
  const hash = rest.indexOf('#')
  if (hash >= 0) rest = rest.slice(0, hash)
  const mark = rest.indexOf('?')
  const path = mark >= 0 ? rest.slice(0, mark) : rest
  if (NON_ASCII.test(path)) return null
  return { path, query: mark >= 0 ? rest.slice(mark + 1) : '' }
}

// Python's urllib.parse.unquote: %XX escapes in ASCII runs become bytes, read as UTF-8 with
// U+FFFD for bad bytes; a '%' without two hex digits, and anything past ASCII, stay as they are.
function unquote (text) {
  if (!text.includes('%')) return text
  return text.replace(ASCII_RUNS, (run) => (run.includes('%') ? utf8.decode(unquoteToBytes(run)) : run))
}

function unquoteToBytes (run) {
  const bytes = []
  let last = 0
  for (const match of run.matchAll(ESCAPE)) {
    for (let i = last; i < match.index; i++) bytes.push(run.charCodeAt(i))
    bytes.push(parseInt(match[1], 16))
    last = match.index + 3
  }
  for (let i = last; i < run.length; i++) bytes.push(run.charCodeAt(i))
  return Uint8Array.from(bytes)
}

// Starlette's query parameters: parse_qsl(keep_blank_values=True) of the query read as latin-1
// (as Node reads the target), the last value of a repeated name winning.
function parseQuery (query) {
  const out = Object.create(null)
  if (query === '') return out
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = eq >= 0 ? pair.slice(0, eq) : pair
    const value = eq >= 0 ? pair.slice(eq + 1) : ''
    out[unquote(name.replaceAll('+', ' '))] = unquote(value.replaceAll('+', ' '))
  }
  return out
}

// Starlette's request.url.path, which the 404 message names: the decoded path with '?', '#'
// and '\' escaped again, put in a URL and split out again by Python's urlsplit (which drops
// tabs and line breaks).
function urlPath (decoded) {
  if (decoded === '') return ''
  const path = decoded.replaceAll('?', '%3F').replaceAll('#', '%23').replaceAll('\\', '%5C')
  const kept = path.replace(/[\t\r\n]/g, '')
  return kept[0] === '/' ? kept : '/' + kept
}

module.exports = { split, unquote, parseQuery, urlPath }
