'use strict'
// A JSON parser that accepts exactly what pydantic's (jiter's) accepts, for POST /items.
//
// JSON.parse differs where the contract can see it: jiter also reads NaN, Infinity and
// -Infinity (then refused as not finite: a 422, not a 400), keeps integers exact (10**400 is
// "less than or equal to 10000", not Infinity), refuses a lone surrogate escape ("\ud800"),
// an integer of more than 4300 digits and more than 200 nested arrays or objects, and keeps an
// object's keys in their first position with their last value (Map semantics: JS objects put
// integer-like keys first). Anything refused here is the contract's 400 malformed_json.

class JsonInt {
  // An integer literal, exactly: a BigInt.
  constructor (value) {
    this.value = value
  }
}

class Invalid extends Error {}

const MAX_INT_DIGITS = 4300 // Python's int_max_str_digits, which jiter keeps
const MAX_DEPTH = 200 // nested non-empty arrays and objects below the outermost one
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y
const INT_DIGITS = /\d+/y

function parse (buffer) {
  let text
  try {
    text = utf8.decode(buffer)
  } catch {
    throw new Invalid('not UTF-8')
  }
  const parser = new Parser(text)
  const value = parser.value(0)
  parser.space()
  if (parser.i !== text.length) throw new Invalid('trailing characters')
  return value
}

class Parser {
  constructor (text) {
    this.text = text
    this.i = 0
  }

  space () {
    const t = this.text
    let c = t.charCodeAt(this.i)
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++this.i)
  }

  value (depth) {
    this.space()
    const t = this.text
    const c = t[this.i]
    if (c === '"') return this.string()
    if (c === '{') return this.object(depth)
    if (c === '[') return this.array(depth)
    if (t.startsWith('true', this.i)) return this.word(4, true)
    if (t.startsWith('false', this.i)) return this.word(5, false)
    if (t.startsWith('null', this.i)) return this.word(4, null)
    if (t.startsWith('NaN', this.i)) return this.word(3, NaN)
    if (t.startsWith('Infinity', this.i)) return this.word(8, Infinity)
    if (t.startsWith('-Infinity', this.i)) return this.word(9, -Infinity)
    return this.number()
  }

  word (length, value) {
    this.i += length
    return value
  }

  // A container holds values one level down; the outermost one is level 0.
  enter (depth) {
    if (depth >= MAX_DEPTH) throw new Invalid('nested too deep')
  }

  array (depth) {
    this.i++
    const out = []
    this.space()
    if (this.text[this.i] === ']') {
      this.i++
      return out
    }
    this.enter(depth)
    for (;;) {
      out.push(this.value(depth + 1))
      this.space()
      const c = this.text[this.i++]
      if (c === ']') return out
      if (c !== ',') throw new Invalid('expected , or ]')
    }
  }

  object (depth) {
    this.i++
    const out = new Map()
    this.space()
    if (this.text[this.i] === '}') {
      this.i++
      return out
    }
    this.enter(depth)
    for (;;) {
      this.space()
      if (this.text[this.i] !== '"') throw new Invalid('expected a key')
      const key = this.string()
      this.space()
      if (this.text[this.i++] !== ':') throw new Invalid('expected :')
      out.set(key, this.value(depth + 1))
      this.space()
      const c = this.text[this.i++]
      if (c === '}') return out
      if (c !== ',') throw new Invalid('expected , or }')
    }
  }

  number () {
    NUMBER.lastIndex = this.i
    const match = NUMBER.exec(this.text)
    if (match === null) throw new Invalid('expected a value')
    const literal = match[0]
    INT_DIGITS.lastIndex = this.i + (literal[0] === '-' ? 1 : 0)
    if (INT_DIGITS.exec(this.text)[0].length > MAX_INT_DIGITS) throw new Invalid('too many digits')
    // A literal that stops short of a fraction's or exponent's digits ("1.", "1e") is refused by
    // whatever follows it: no value continues with '.', 'e' or 'E'.
    this.i += literal.length
    if (match[1] === undefined && match[2] === undefined) return new JsonInt(BigInt(literal))
    return Number(literal) // correctly rounded, as jiter's lexical parser; may be 0 or Infinity
  }

  string () {
    const t = this.text
    let i = this.i + 1
    let out = ''
    let start = i
    for (;;) {
      const c = t.charCodeAt(i)
      if (c === 0x22) break
      if (Number.isNaN(c)) throw new Invalid('unterminated string')
      if (c < 0x20) throw new Invalid('control character in a string')
      if (c !== 0x5c) {
        i++
        continue
      }
      out += t.slice(start, i)
      const e = t[i + 1]
      i += 2
      if (e === 'u') {
        let unit = this.hex4(i)
        i += 4
        if (unit >= 0xdc00 && unit <= 0xdfff) throw new Invalid('lone low surrogate')
        if (unit >= 0xd800 && unit <= 0xdbff) {
          if (t[i] !== '\\' || t[i + 1] !== 'u') throw new Invalid('lone high surrogate')
          const low = this.hex4(i + 2)
          if (low < 0xdc00 || low > 0xdfff) throw new Invalid('lone high surrogate')
          i += 6
          out += String.fromCharCode(unit, low)
          unit = -1
        }
        if (unit >= 0) out += String.fromCharCode(unit)
      } else {
        const simple = ESCAPES[e]
        if (simple === undefined) throw new Invalid('bad escape')
        out += simple
      }
      start = i
    }
    out += t.slice(start, i)
    this.i = i + 1
    return out
  }

  hex4 (i) {
    const digits = this.text.slice(i, i + 4)
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) throw new Invalid('bad \\u escape')
    return parseInt(digits, 16)
  }
}

const ESCAPES = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

module.exports = { parse, JsonInt, Invalid }
