'use strict'
// The CPU work and the TechEmpower logic of services/common/work.py, with the same results.

const crypto = require('node:crypto')
const { promisify } = require('node:util')

const WORLD_ROWS = 10000
const ADDED_FORTUNE = [0, 'Additional fortune added at request time.']
const pbkdf2 = promisify(crypto.pbkdf2)

// The LCG of /cpu/python, step for step: x = (x * 1103515245 + 12345) mod 2**31. The product
// needs 61 bits, past a double's 53; Math.imul gives its low 32 bits exactly, and only the low 31
// are kept. cpuPython(3) === 662824084, as in Python. In JS this is JIT-compiled machine code
// (about 1 ns a step, not Python's 80): still CPU work that holds the event loop while it runs.
function cpuPython (steps) {
  let x = 1
  for (let i = 0; i < steps; i++) x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff
  return x
}

// PBKDF2-HMAC-SHA256 in OpenSSL, on libuv's thread pool: the event loop serves other requests
// meanwhile and up to UV_THREADPOOL_SIZE (4) run at once, as Python's releases the GIL so that
// threads scale (docs/contract.md says why this one is not pbkdf2Sync).
async function cpuNative (iterations) {
  const key = await pbkdf2('asynclab', 'salt', iterations, 32, 'sha256')
  return key.toString('hex')
}

// A real blocking sleep on the event loop, the Node form of /pitfall/blocking's time.sleep in an
// async def: nothing else on this loop runs meanwhile.
const sleeper = new Int32Array(new SharedArrayBuffer(4))
function blockingSleep (ms) {
  Atomics.wait(sleeper, 0, 0, ms)
}

function randomInt (low, high) {
  return low + Math.floor(Math.random() * (high - low + 1))
}

// Distinct ids, sorted so that concurrent /updates lock rows in one order (no deadlock).
function randomIds (n) {
  const chosen = new Set()
  while (chosen.size < n) chosen.add(randomInt(1, WORLD_ROWS))
  return [...chosen].sort((a, b) => a - b)
}

function randomNumber () {
  return randomInt(1, WORLD_ROWS)
}

// A new value that differs from the old one, so every update really changes the row.
function newRandomNumber (old) {
  const value = randomInt(1, WORLD_ROWS - 1)
  return value >= old ? value + 1 : value
}

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', "'": '&#39;', '"': '&#34;' }

// markupsafe.escape's escapes.
function escapeHtml (text) {
  return text.replace(/[&<>'"]/g, (c) => HTML_ESCAPES[c])
}

// Python sorts strings by code point; JS's < compares UTF-16 units, which differs past U+FFFF.
function byCodePoint (a, b) {
  const x = [...a]
  const y = [...b]
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i].codePointAt(0) - y[i].codePointAt(0)
  }
  return x.length - y.length
}

function renderFortunes (rows) {
  const fortunes = [...rows, ADDED_FORTUNE]
  fortunes.sort((a, b) => byCodePoint(a[1], b[1])) // stable, as Python's sort
  let body = ''
  for (const [id, message] of fortunes) body += `<tr><td>${id}</td><td>${escapeHtml(message)}</td></tr>`
  return (
    '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>' +
    `<tr><th>id</th><th>message</th></tr>${body}</table></body></html>`
  )
}

module.exports = {
  cpuPython,
  cpuNative,
  blockingSleep,
  randomIds,
  randomNumber,
  newRandomNumber,
  renderFortunes
}
