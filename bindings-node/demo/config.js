'use strict'
// The demo's shared configuration (demo.json, written by demo/launch.py): the same store,
// pepper, cookie and timeouts in the Flask, Express and C servers.
const fs = require('node:fs')
const { SessionManager, ManualClock } = require('..')

const SITE = 'express'
const SITE_NAMES = { flask: 'Flask (Python)', express: 'Express (Node)', c: 'C (libmicrohttpd)' }
// Where a test clock starts, the same in the three servers (and in the C example's --test).
const TEST_CLOCK_START_MS = 1_700_000_000_000

function load (path) {
  const raw = JSON.parse(fs.readFileSync(path, 'utf8'))
  for (const key of ['sites', 'options', 'timeouts', 'events', 'assets', 'test_clock', 'differences']) {
    if (!(key in raw)) throw new Error(`${path}: no "${key}" (write it with demo/launch.py)`)
  }
  return raw
}

/** The manager the options describe: core names (snake_case) become the Node ones. */
function manager (config) {
  const options = {}
  // recent_ms came later: a configuration without it gets the demo's default, 5 min.
  if (config.recent_ms === undefined) config.recent_ms = 5 * 60_000
  for (const [name, value] of Object.entries(config.options)) {
    options[name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = value
  }
  const clock = config.test_clock ? new ManualClock(TEST_CLOCK_START_MS) : null
  if (clock) options.clock = clock
  return { manager: new SessionManager(options), clock }
}

module.exports = { SITE, SITE_NAMES, load, manager }
