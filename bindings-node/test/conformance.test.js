'use strict'
// The conformance corpus (tests/conformance/*.json) through the Node API on the memory store and
// on SQLite, each twice: with the synchronous calls and with the Promise calls. The runner is
// conformance-runner.js; redis-conformance.test.js runs the corpus again on Redis.
const { describe, it, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { DIR, MIN_SCENARIOS, load, problems, runScenario } = require('./conformance-runner.js')

const corpus = load()

describe('conformance corpus', () => {
  it(`has at least ${MIN_SCENARIOS} scenarios`, () => {
    assert.ok(corpus.length >= MIN_SCENARIOS, `only ${corpus.length} scenarios in ${DIR}`)
  })

  for (const sync of [true, false]) {
    describe(sync ? 'synchronous calls' : 'Promise calls', () => {
      for (const { file, scenario } of corpus) {
        it(file.replace(/\.json$/, ''), async () => {
          const bad = problems(scenario, file)
          assert.deepEqual(bad, [], 'the scenario uses something this runner does not know')
          const failures = await runScenario(scenario, sync)
          assert.deepEqual(failures, [])
        })
      }
    })
  }
})

// SQLite is embedded (not networked), so both call forms are allowed. Each scenario and call form
// gets a fresh database file in a private directory, removed when the file's tests are done.
describe('conformance corpus on SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-conformance-sqlite-'))
  after(() => fs.rmSync(dir, { recursive: true, force: true }))
  let n = 0

  for (const sync of [true, false]) {
    describe(sync ? 'synchronous calls' : 'Promise calls', () => {
      for (const { file, scenario } of corpus) {
        const name = file.replace(/\.json$/, '')
        it(name, async () => {
          assert.deepEqual(problems(scenario, file), [], 'the scenario uses something this runner does not know')
          const store = `sqlite://${path.join(dir, `${++n}-${name}.db`)}`
          const failures = await runScenario(scenario, sync, { store })
          assert.deepEqual(failures, [])
        })
      }
    })
  }

  it('the store is SQLite: shared, not networked', () => {
    const { SessionManager } = require('..')
    const m = new SessionManager({ store: `sqlite://${path.join(dir, 'kind.db')}`, sweepIntervalMs: null })
    assert.equal(m.storeIsShared, true)
    assert.equal(m.isNetworked, false)
  })
})
