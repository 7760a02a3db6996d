'use strict'
// pydantic's answers to bad input (services/common/models.py, errors.py), reproduced rule by
// rule: the same accepted inputs, the same error `type` and `message` strings, the same order
// of `detail` entries. tests/contract compares them byte for byte with the FastAPI service's.

const errors = require('./errors')
const { MAX_WAIT_MS, PARAMS, ITEM } = require('./models')
const { parse: parseJson, JsonInt, Invalid } = require('./json-parse')

const { issue } = errors

// Rust's str::trim (Unicode White_Space), which pydantic applies to a string it reads as an int.
const RUST_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
// Python's str.isspace(), which str.strip() uses (int() strips only the set above).
const PY_SPACE = RUST_SPACE + '\\u001c-\\u001f'
const RUST_TRIM = new RegExp(`^[${RUST_SPACE}]+|[${RUST_SPACE}]+$`, 'g')
const PY_TRIM = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g')
const JSON_INT = /^-?(?:0|[1-9][0-9]*)$/
const MAX_INT_DIGITS = 4300

const INT_PARSING = 'Input should be a valid integer, unable to parse string as an integer'
const INT_PARSING_SIZE = 'Unable to parse input string as an integer, exceeded maximum size'

function pyStrip (text) {
  return text.replace(PY_TRIM, '')
}

// pydantic-core's str_as_int: the string as a JSON integer, or else once cleaned (whitespace,
// a '+', leading zeros, a '.000' fraction, single underscores between digits). Returns a BigInt,
// or the error type.
function strAsInt (text) {
  const direct = jsonInt(text)
  if (direct !== null) return direct
  const cleaned = cleanIntStr(text)
  if (cleaned === null) return 'int_parsing'
  const value = jsonInt(cleaned)
  return value === null || value === 'int_parsing_size' ? 'int_parsing' : value
}

function jsonInt (text) {
  if (!JSON_INT.test(text)) return null
  const digits = text.length - (text[0] === '-' ? 1 : 0)
  return digits > MAX_INT_DIGITS ? 'int_parsing_size' : BigInt(text)
}

// pydantic-core's clean_int_str, step by step.
function cleanIntStr (original) {
  let s = original.replace(RUST_TRIM, '')
  if (s.startsWith('+')) {
    if (s.startsWith('+-')) return null
    s = s.slice(1)
  }
  let negative = false
  if (s.startsWith('-')) {
    if (s.startsWith('--') || s.startsWith('-+')) return null
    negative = true
    s = s.slice(1)
  }
  s = stripLeadingZeros(s)
  if (s === null) return null
  const dot = s.indexOf('.')
  if (dot >= 0) {
    const fraction = s.slice(dot + 1)
    if (fraction.length > 0 && /^0+$/.test(fraction)) s = s.slice(0, dot)
  }
  const sign = negative ? '-' : ''
  if (!(s.startsWith('_') || s.endsWith('_') || !s.includes('_') || s.includes('__'))) {
    return sign + s.replaceAll('_', '')
  }
  if (utf8Length(original) === utf8Length(s)) return null
  return sign + s
}

function stripLeadingZeros (s) {
  const first = s[0]
  if (first !== '0') return first !== undefined && /[1-9-]/.test(first) ? s : null
  for (let i = 1; i < s.length; i++) {
    const c = s[i]
    if (c === '0' || c === '_') continue
    if (/[1-9-]/.test(c)) return s.slice(i)
    if (c === '.') return s.slice(i - 1)
    return null
  }
  return s.slice(-1)
}

function utf8Length (text) {
  return Buffer.byteLength(text)
}

// The validated integer parameters of ``model`` (a key of PARAMS), in their order, from the
// query's or the path's values; a 422 naming every bad one.
function parseParams (model, values, where) {
  const out = []
  const detail = []
  for (const [field, fallback, ge, le] of PARAMS[model]) {
    const raw = values[field]
    if (raw === undefined) {
      if (fallback === undefined) detail.push(issue(field, where, 'missing', 'Field required'))
      out.push(fallback)
      continue
    }
    const value = strAsInt(raw)
    if (typeof value === 'string') {
      detail.push(issue(field, where, value, value === 'int_parsing' ? INT_PARSING : INT_PARSING_SIZE))
    } else if (value < BigInt(ge)) {
      detail.push(issue(field, where, 'greater_than_equal', `Input should be greater than or equal to ${ge}`))
    } else if (value > BigInt(le)) {
      detail.push(issue(field, where, 'less_than_equal', `Input should be less than or equal to ${le}`))
    } else {
      out.push(Number(value))
    }
  }
  if (detail.length > 0) throw errors.validationError(detail)
  return out
}

// /fanout's total wait within MAX_WAIT_MS (errors.within_wait_budget), after each bound alone.
function checkWaitBudget ([calls, ms]) {
  if (calls * ms > MAX_WAIT_MS) throw errors.overWaitBudget(calls, ms)
}

// TechEmpower's rule (work.clamp_queries): Python's int() of the raw value, 1 where it fails,
// clamped to 1..500.
function clampQueries (raw) {
  const n = pyInt(raw)
  if (n === null) return 1
  return n < 1n ? 1 : n > 500n ? 500 : Number(n)
}

// Python's int(text): whitespace around, a sign, decimal digits of any script with single
// underscores between them, at most 4300 digits.
function pyInt (text) {
  if (text === undefined) return 1n
  const s = text.replace(RUST_TRIM, '')
  const match = /^([+-]?)(\p{Nd}+(?:_\p{Nd}+)*)$/u.exec(s)
  if (match === null) return null
  let digits = ''
  for (const c of match[2]) if (c !== '_') digits += decimalValue(c)
  if (digits.length > MAX_INT_DIGITS) return null
  const value = BigInt(digits)
  return match[1] === '-' ? -value : value
}

// The value of a decimal digit of any script: Unicode lays every script's digits out as a run
// from 0 to 9 (some as several runs in a row), so it is the distance from the run's start.
const ND = /\p{Nd}/u
function decimalValue (c) {
  let code = c.codePointAt(0)
  if (code < 0x80) return c
  const start = code
  while (ND.test(String.fromCodePoint(code - 1))) code--
  return String((start - code) % 10)
}

// POST /items' body (errors.parse_body): the content type, then the JSON, then the rules.
// (Its size was checked while reading it: body.js.)
function parseItem (contentType, body) {
  const mimetype = pyStrip((contentType || '').split(';', 1)[0]).toLowerCase()
  if (mimetype !== 'application/json') throw errors.unsupportedMediaType(mimetype)
  let value
  try {
    value = parseJson(body)
  } catch (error) {
    if (error instanceof Invalid) throw errors.malformedJson()
    throw error
  }
  return validateItem(value)
}

const KNOWN = new Set(['name', 'price', 'quantity', 'tags'])
const MISSING = 'Field required'

function validateItem (value) {
  if (!(value instanceof Map)) {
    throw errors.validationError([issue('body', 'body', 'model_type', 'Input should be an object')])
  }
  const detail = []
  const name = text(value, 'name', ITEM.name, detail)
  const price = positiveFloat(value, detail)
  const quantity = boundedInt(value, detail)
  const tags = tagList(value, detail)
  for (const key of value.keys()) {
    if (!KNOWN.has(key)) {
      detail.push(issue(key || 'body', 'body', 'extra_forbidden', 'Extra inputs are not permitted'))
    }
  }
  if (detail.length > 0) throw errors.validationError(detail)
  return { name, price, quantity, tags }
}

function text (source, key, { min, max }, detail, field = key) {
  const value = source instanceof Map ? source.get(key) : source[key]
  if (value === undefined && source instanceof Map && !source.has(key)) {
    detail.push(issue(field, 'body', 'missing', MISSING))
    return undefined
  }
  if (typeof value !== 'string') {
    detail.push(issue(field, 'body', 'string_type', 'Input should be a valid string'))
    return undefined
  }
  let length = 0
  for (const _ of value) length++ // code points, as Python counts
  if (length < min) {
    const plural = min === 1 ? '' : 's'
    detail.push(issue(field, 'body', 'string_too_short', `String should have at least ${min} character${plural}`))
  } else if (length > max) {
    detail.push(issue(field, 'body', 'string_too_long', `String should have at most ${max} characters`))
  } else if (value.includes('\u0000')) {
    detail.push(issue(field, 'body', 'string_contains_nul',
      'String should not contain the NUL character (\\u0000): the database cannot store it'))
  } else {
    return value
  }
  return undefined
}

function positiveFloat (source, detail) {
  if (!source.has('price')) {
    detail.push(issue('price', 'body', 'missing', MISSING))
    return undefined
  }
  const raw = source.get('price')
  let value
  if (raw instanceof JsonInt) value = Number(raw.value) // correctly rounded; Infinity past 1.8e308
  else if (typeof raw === 'number') value = raw
  else {
    detail.push(issue('price', 'body', 'float_type', 'Input should be a valid number'))
    return undefined
  }
  if (!Number.isFinite(value)) {
    detail.push(issue('price', 'body', 'finite_number', 'Input should be a finite number'))
  } else if (!(value > 0)) {
    detail.push(issue('price', 'body', 'greater_than', 'Input should be greater than 0'))
  } else {
    return value
  }
  return undefined
}

function boundedInt (source, detail) {
  if (!source.has('quantity')) {
    detail.push(issue('quantity', 'body', 'missing', MISSING))
    return undefined
  }
  const raw = source.get('quantity')
  let value
  if (raw instanceof JsonInt) value = raw.value
  else if (typeof raw === 'number' && Number.isInteger(raw)) value = BigInt(raw) // 3.0 is 3
  else {
    detail.push(issue('quantity', 'body', 'int_type', 'Input should be a valid integer'))
    return undefined
  }
  const { ge, le } = ITEM.quantity
  if (value < BigInt(ge)) {
    detail.push(issue('quantity', 'body', 'greater_than_equal', `Input should be greater than or equal to ${ge}`))
  } else if (value > BigInt(le)) {
    detail.push(issue('quantity', 'body', 'less_than_equal', `Input should be less than or equal to ${le}`))
  } else {
    return Number(value)
  }
  return undefined
}

function tagList (source, detail) {
  if (!source.has('tags')) return []
  const raw = source.get('tags')
  if (!Array.isArray(raw)) {
    detail.push(issue('tags', 'body', 'list_type', 'Input should be a valid array'))
    return undefined
  }
  // pydantic stops at the 11th item with this one error, whatever the items before it were.
  if (raw.length > ITEM.tags.max) {
    detail.push(issue('tags', 'body', 'too_long',
      `List should have at most ${ITEM.tags.max} items after validation, not ${raw.length}`))
    return undefined
  }
  const before = detail.length
  const tags = raw.map((_, i) => text(raw, i, ITEM.tag, detail, `tags.${i}`))
  return detail.length === before ? tags : undefined
}

module.exports = { strAsInt, parseParams, checkWaitBudget, clampQueries, parseItem, pyStrip, pyInt }
