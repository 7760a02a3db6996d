'use strict'
// The service's settings from SERVICE_* environment variables (services/common/config.py's,
// plus SERVICE_WORKERS and SERVICE_OPENAPI_PATH): a missing or bad one stops the service with
// one line per variable, before it listens.

const path = require('node:path')

const DEFAULT_OPENAPI = path.resolve(__dirname, '../../common/openapi.json')

function load (env = process.env) {
  const problems = []
  function text (name, fallback) {
    const value = env[`SERVICE_${name}`]
    if (value !== undefined && value !== '') return value
    if (fallback === undefined) problems.push(`SERVICE_${name}: Field required`)
    return fallback
  }
  function number (name, fallback, { min, integer = true, above = false }) {
    const raw = env[`SERVICE_${name}`]
    if (raw === undefined || raw === '') return fallback
    const value = Number(raw)
    const ok = Number.isFinite(value) && (!integer || Number.isInteger(value)) &&
      (above ? value > min : value >= min)
    if (!ok) {
      const kind = integer ? 'an integer' : 'a number'
      problems.push(`SERVICE_${name}: should be ${kind} ${above ? 'greater than' : 'at least'} ${min}, not ${JSON.stringify(raw)}`)
    }
    return value
  }
  function flag (name, fallback) {
    const raw = env[`SERVICE_${name}`]
    if (raw === undefined || raw === '') return fallback
    const value = raw.trim().toLowerCase()
    if (['true', '1', 'yes', 'on'].includes(value)) return true
    if (['false', '0', 'no', 'off'].includes(value)) return false
    problems.push(`SERVICE_${name}: should be true or false, not ${JSON.stringify(raw)}`)
    return fallback
  }
  const config = {
    name: text('NAME'),
    variant: text('VARIANT'),
    databaseUrl: text('DATABASE_URL'),
    upstreamUrl: text('UPSTREAM_URL'),
    dbPoolSize: number('DB_POOL_SIZE', 10, { min: 1 }),
    httpPoolSize: number('HTTP_POOL_SIZE', 100, { min: 1 }),
    statementTimeoutMs: number('STATEMENT_TIMEOUT_MS', 30000, { min: 100 }),
    connectTimeoutS: number('CONNECT_TIMEOUT_S', 3, { min: 0, integer: false, above: true }),
    metricsEnabled: flag('METRICS_ENABLED', true),
    workers: number('WORKERS', 1, { min: 1 }),
    openapiPath: path.resolve(text('OPENAPI_PATH', DEFAULT_OPENAPI))
  }
  if (problems.length > 0) {
    throw new Error(`invalid service configuration:\n  ${problems.join('\n  ')}`)
  }
  return config
}

module.exports = { load }
