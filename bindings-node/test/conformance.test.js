'use strict'
// The conformance corpus (tests/conformance/*.json) through the Node API on the memory store,
// twice: with the synchronous calls and with the Promise calls. The runner is
// conformance-runner.js; redis-conformance.test.js runs the corpus again on Redis.
const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
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
