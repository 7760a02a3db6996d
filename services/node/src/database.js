'use strict'
// Postgres through node-postgres' pool: the same operations, SQL and payloads as the Python
// backends (services/fastapi/async_backend.py), and the contract's answer to an outage.
//
// Outages (docs/contract.md, "Database outages"), as asyncpg behaves: a connection the server
// closed is dropped by the pool as soon as the event loop sees it close (the 'error' of an idle
// client), so a restart no request saw costs no request; a request that finds no idle
// connection opens one, which a stopped Postgres refuses at once; the connect timeout bounds
// both the connection and the wait for a pooled one; any failure is the contract's 503, and the
// connection it happened on is destroyed rather than handed out again.

const pg = require('pg')
const sql = require('./sql')
const work = require('./work')
const errors = require('./errors')
const pyjson = require('./pyjson')

const { ApiError } = errors

class Database {
  constructor (config) {
    this.size = config.dbPoolSize
    this.pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: config.dbPoolSize,
      // A fixed pool, as the Python services keep: idle connections are never closed.
      idleTimeoutMillis: 0,
      connectionTimeoutMillis: Math.round(config.connectTimeoutS * 1000),
      // Sent at connect: Postgres cancels a longer statement itself (a 503 here).
      statement_timeout: config.statementTimeoutMs
    })
    // An idle connection lost (Postgres stopped): the pool has already dropped it.
    this.pool.on('error', () => {})
    // A lent connection that breaks between two queries must not crash the process: the
    // request's own query fails and the connection is destroyed on release.
    this.pool.on('connect', (client) => client.on('error', () => {}))
  }

  // Every connection opened now, so that the pool is as fixed as the psycopg one; none opened
  // (Postgres down) is no reason not to start: /readyz says 503 until it is back.
  async open () {
    const clients = await Promise.allSettled(Array.from({ length: this.size }, () => this.pool.connect()))
    for (const c of clients) if (c.status === 'fulfilled') c.value.release()
  }

  close () {
    return this.pool.end()
  }

  // (size, in use, waiting) of this process's pool.
  stats () {
    const { totalCount, idleCount, waitingCount } = this.pool
    return [totalCount, totalCount - idleCount, waitingCount]
  }

  // fn(client) on a pooled connection; its ApiError stands, any other failure is a 503.
  async withClient (fn) {
    let client
    try {
      client = await this.pool.connect()
    } catch {
      throw errors.databaseUnavailable()
    }
    let broken = false
    try {
      return await fn(client)
    } catch (error) {
      if (error instanceof ApiError) throw error
      broken = true
      throw errors.databaseUnavailable()
    } finally {
      client.release(broken)
    }
  }

  ping () {
    return this.withClient(async (c) => {
      await c.query(sql.ping())
      return { status: 'ready' }
    })
  }

  world () {
    return this.withClient(async (c) => {
      const { rows } = await c.query(sql.selectWorld(work.randomNumber()))
      return { id: rows[0][0], randomNumber: rows[0][1] }
    })
  }

  worlds (n) {
    return this.withClient((c) => readWorlds(c, n))
  }

  // One connection for the reads and the writes, as TechEmpower's implementations take; the
  // writes in one transaction, as asyncpg's executemany makes them (all or nothing).
  updateWorlds (n) {
    return this.withClient(async (c) => {
      const worlds = await readWorlds(c, n)
      for (const w of worlds) w.randomNumber = work.newRandomNumber(w.randomNumber)
      // node-postgres sends each queued query as soon as the one before it is answered.
      await Promise.all([
        c.query('BEGIN'),
        ...worlds.map((w) => c.query(sql.updateWorld(w.randomNumber, w.id))),
        c.query('COMMIT')
      ])
      return worlds
    })
  }

  fortunes () {
    return this.withClient(async (c) => {
      const { rows } = await c.query(sql.selectFortunes())
      return work.renderFortunes(rows)
    })
  }

  sleep (ms) {
    return this.withClient(async (c) => {
      await c.query(sql.sleep(ms / 1000))
      return { ms }
    })
  }

  insertItem (item) {
    return this.withClient(async (c) => {
      const { rows } = await c.query(sql.insertItem(item.name, item.price, item.quantity, item.tags))
      return itemPayload(rows[0])
    })
  }

  getItem (id) {
    return this.withClient(async (c) => {
      const { rows } = await c.query(sql.selectItem(id))
      if (rows.length === 0) throw errors.itemNotFound(id)
      return itemPayload(rows[0])
    })
  }
}

// The World rows of n distinct random ids, read one query after another on one connection.
async function readWorlds (client, n) {
  const results = await Promise.all(work.randomIds(n).map((id) => client.query(sql.selectWorld(id))))
  return results.map(({ rows }) => ({ id: rows[0][0], randomNumber: rows[0][1] }))
}

// An items row as the API returns it, already encoded: its price is a float (pyjson.js).
function itemPayload ([id, name, price, quantity, tags]) {
  return pyjson.item({ id, name, price, quantity, tags })
}

module.exports = { Database }
