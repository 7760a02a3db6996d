'use strict'
// The slow upstream through undici's pool: SERVICE_HTTP_POOL_SIZE keep-alive connections, the
// connect timeout of the Python clients (services/common/upstream.py), and 15 s for one call.

const { Pool } = require('undici')
const errors = require('./errors')
const pyjson = require('./pyjson')

// A single call never waits more than 5 s: 15 s leaves room without letting a hang last forever.
const CALL_TIMEOUT_MS = 15000

class Upstream {
  constructor (config) {
    this.pool = new Pool(config.upstreamUrl, {
      connections: config.httpPoolSize,
      connectTimeout: Math.round(config.connectTimeoutS * 1000),
      headersTimeout: CALL_TIMEOUT_MS,
      bodyTimeout: CALL_TIMEOUT_MS
    })
  }

  close () {
    return this.pool.close()
  }

  // One call; anything but a 2xx answer (the Python services' status check) is the contract's 502.
  async call (ms) {
    try {
      const { statusCode, body } = await this.pool.request({ method: 'GET', path: `/delay?ms=${ms}` })
      await body.dump()
      if (statusCode >= 200 && statusCode < 300) return { ms }
    } catch {
      // refused, reset or timed out: the same answer
    }
    throw errors.upstreamUnavailable()
  }

  // All calls at once: the natural way of an event loop (the Python async backend's gather).
  async fanout (calls, ms) {
    const start = performance.now()
    await Promise.all(Array.from({ length: calls }, () => this.call(ms)))
    const elapsed = pyjson.round3(performance.now() - start)
    return pyjson.fanout(calls, ms, 'concurrent', elapsed)
  }
}

module.exports = { Upstream }
