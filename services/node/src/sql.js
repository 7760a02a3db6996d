'use strict'
// Every statement, as services/common/sql.py writes it (the same text, the same $n parameters):
// node-postgres takes Postgres' native form as it is. Named, so that each connection prepares a
// statement once and then only binds it, as asyncpg's statement cache does.

const PING = 'SELECT 1'
const SELECT_WORLD = 'SELECT id, randomnumber FROM world WHERE id = $1'
const UPDATE_WORLD = 'UPDATE world SET randomnumber = $1 WHERE id = $2'
const SELECT_FORTUNES = 'SELECT id, message FROM fortune'
const SLEEP = 'SELECT pg_sleep($1)'
const INSERT_ITEM =
  'INSERT INTO items (name, price, quantity, tags) VALUES ($1, $2, $3, $4) ' +
  'RETURNING id, name, price, quantity, tags'
const SELECT_ITEM = 'SELECT id, name, price, quantity, tags FROM items WHERE id = $1'

// A query config for node-postgres: a prepared statement's name, text and the values.
function statement (name, text) {
  return (...values) => ({ name, text, values, rowMode: 'array' })
}

module.exports = {
  ping: statement('ping', PING),
  selectWorld: statement('select_world', SELECT_WORLD),
  updateWorld: statement('update_world', UPDATE_WORLD),
  selectFortunes: statement('select_fortunes', SELECT_FORTUNES),
  sleep: statement('sleep', SLEEP),
  insertItem: statement('insert_item', INSERT_ITEM),
  selectItem: statement('select_item', SELECT_ITEM)
}
