'use strict'
// The conformance corpus (tests/conformance/*.json) again, on Redis: every scenario through the
// Promise calls (the only ones a networked store offers), each on a key prefix of its own, on a
// private redis-server started for this file.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { MIN_SCENARIOS, load, problems, runScenario } = require('./conformance-runner.js')
const { clusterSkipReason, redisSkipReason, startRedis, startRedisCluster } = require('./redis-server.js')

const skip = redisSkipReason()
const corpus = load()

describe('conformance corpus on Redis (Promise calls)', { skip: skip ?? false }, () => {
  let server
  before(async () => { server = await startRedis() })
  after(() => server && server.stop())

  it(`has at least ${MIN_SCENARIOS} scenarios`, () => {
    assert.ok(corpus.length >= MIN_SCENARIOS)
  })

  for (const { file, scenario } of corpus) {
    const name = file.replace(/\.json$/, '')
    it(name, async () => {
      assert.deepEqual(problems(scenario, file), [], 'the scenario uses something this runner does not know')
      const store = server.url(`conf-${name}`)
      const failures = await runScenario(scenario, false, { store })
      assert.deepEqual(failures, [])
    })
  }

  it('the synchronous calls are refused on Redis (they would block the event loop)', async () => {
    const { SessionManager } = require('..')
    const m = new SessionManager({ store: server.url('conf-sync'), sweepIntervalMs: null })
    assert.equal(m.isNetworked, true)
    assert.throws(() => m.createSync(), { code: 'invalid_argument', message: /Promise form/ })
    assert.throws(() => m.validateSync('x'.repeat(43)), { code: 'invalid_argument' })
    const { begin } = require('../lib/request.js').bind(m)
    assert.throws(() => begin('sid=1', false, 'GET'), { code: 'invalid_argument' })
    assert.equal(begin(undefined, false, 'GET')[1].exists, false, 'without a cookie: no store call, allowed')
    const s = await m.create()
    assert.equal((await m.validate(s.newToken)).valid, true)
  })
})

describe('conformance corpus on a Redis Cluster (Promise calls)', { skip: clusterSkipReason() ?? false }, () => {
  let cluster
  before(async () => { cluster = await startRedisCluster() })
  after(() => cluster && cluster.stop())

  for (const { file, scenario } of corpus) {
    const name = file.replace(/\.json$/, '')
    it(name, async () => {
      const failures = await runScenario(scenario, false, { store: cluster.url(`cl-${name}`) })
      assert.deepEqual(failures, [])
    })
  }
})
