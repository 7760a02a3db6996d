'use strict'
// The validation rules of services/common/models.py: the same fields, defaults and bounds, in
// the same order (pydantic reports the fields' errors in that order).

const MAX_BODY_BYTES = 64 * 1024
const MAX_WAIT_MS = 5000

// name -> [[field, default, ge, le], ...]: integer parameters of a query or a path.
const PARAMS = {
  WorkPython: [['work', 100000, 1, 10000000]],
  WorkNative: [['work', 40000, 1, 1000000]],
  Wait: [['ms', 50, 0, MAX_WAIT_MS]],
  Fanout: [['calls', 5, 1, 50], ['ms', 50, 0, MAX_WAIT_MS]],
  ItemId: [['id', undefined, 1, 2 ** 31 - 1]]
}

// POST /items: name str 1..100, price float > 0 and finite, quantity int 0..10000 (3.0 counts
// as 3), tags at most 10 strings of 1..50; no NUL in text (Postgres cannot store it).
const ITEM = {
  name: { min: 1, max: 100 },
  tag: { min: 1, max: 50 },
  tags: { max: 10 },
  quantity: { ge: 0, le: 10000 }
}

module.exports = { MAX_BODY_BYTES, MAX_WAIT_MS, PARAMS, ITEM }
