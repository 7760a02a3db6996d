'use strict'
// JSON as the Python services write it (services/common/errors.py dumps): compact, non-ASCII as
// it is, and floats as Python's repr writes them. JSON.stringify agrees on strings and integers,
// not on floats: JS writes 1e16 as 10000000000000000 and 100.0 as 100, Python 1e+16 and 100.0.
// So a payload with a float is written by hand, field by field, with pyFloat for its floats.

// Python's repr of a finite float: the shortest digits that read back as the same double (the
// digits JS picks too), written in fixed notation for exponents -4..15 and in scientific
// notation with a signed, at least two-digit exponent otherwise, always with a '.0' or an
// exponent so that it reads back as a float.
function pyFloat (x) {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite float: ${x}`)
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0'
  const [mantissa, exponent] = x.toExponential().split('e')
  const sign = x < 0 ? '-' : ''
  const digits = mantissa.replace('-', '').replace('.', '')
  const exp = Number(exponent)
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`
    if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits
  const power = String(Math.abs(exp)).padStart(2, '0')
  return `${sign}${head}e${exp < 0 ? '-' : '+'}${power}`
}

// Python's round(x, 3) of a positive duration: correctly rounded, as toFixed rounds the exact
// binary value (the two differ only on exact ties, which a measured duration does not hit).
function round3 (x) {
  return Number(x.toFixed(3))
}

const str = JSON.stringify

function item (row) {
  return `{"id":${row.id},"name":${str(row.name)},"price":${pyFloat(row.price)},` +
    `"quantity":${row.quantity},"tags":${str(row.tags)}}`
}

function fanout (calls, ms, mode, elapsedMs) {
  return `{"calls":${calls},"ms":${ms},"mode":${str(mode)},"elapsed_ms":${pyFloat(elapsedMs)}}`
}

module.exports = { pyFloat, round3, item, fanout }
