'use strict'
// Express under Node's `cluster` with 4 workers, the way an app is deployed on one host: on the
// SQLite store (a temp file) and on Redis (a private redis-server), with one pepper in every
// worker. Sign in with Passport, 200 requests spread over the workers — every one answered as
// the same signed-in session —, a key cycle through an explicit regenerate endpoint, sign out,
// then the old cookies replayed until every worker has refused them. Loopback only, bounded in
// count and time; the workers (and redis-server) are always stopped.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startCluster, request, Jar } = require('./cluster-helpers.js')
const { redisSkipReason, startRedis } = require('./redis-server.js')

const WORKERS = 4
const PEPPER = 'cluster-test-pepper-0123456789abcdef'

/** Send `cookie` until every worker has answered (≤ 100 requests); the answers by pid. */
async function replayOnEveryWorker (port, cookie, pids) {
  const byPid = new Map()
  for (let i = 0; i < 100 && byPid.size < pids.length; i++) {
    const r = await request(port, '/me', { cookie })
    assert.equal(r.status, 200, r.text)
    if (!byPid.has(r.json.pid)) byPid.set(r.json.pid, [])
    byPid.get(r.json.pid).push(r)
  }
  assert.deepEqual([...byPid.keys()].sort(), [...pids].sort(), 'every worker answered the replay')
  return byPid
}

function flows (name, storeUrl) {
  describe(name, () => {
    let cluster
    before(async () => {
      cluster = await startCluster({
        workers: WORKERS,
        env: { TESSERA_STORE: storeUrl(), TESSERA_PEPPER: PEPPER }
      })
    })
    after(async () => { if (cluster) await cluster.stop() })

    it('sign in, 200 requests over the workers, rotation, sign out, replay refused by all', async () => {
      const { port, pids } = cluster
      const jar = new Jar()

      // A visitor's CSRF token from one worker verifies on whichever takes the POST (the pepper).
      const form = jar.take(await request(port, '/csrf'))
      const login = jar.take(await request(port, '/login', {
        method: 'POST', cookie: jar.header(), csrf: form.json.csrf,
        form: { username: 'alice', password: 'wonderland' }
      }))
      assert.equal(login.status, 200, login.text)
      assert.equal(login.json.user, 'alice')
      const signedIn = jar.header()

      const seen = new Set()
      for (let i = 0; i < 200; i++) {
        const r = await request(port, '/me', { cookie: signedIn })
        assert.equal(r.status, 200, r.text)
        assert.equal(r.json.user, 'alice', `request ${i} (worker ${r.json.pid}) is signed in`)
        seen.add(r.json.pid)
      }
      assert.ok(seen.size >= 3, `several workers answered (${seen.size} of ${WORKERS})`)

      // Rotation: a new token now; the old cookie is dead on every worker, the new one lives.
      const token = jar.take(await request(port, '/csrf', { cookie: jar.header() }))
      const rotated = jar.take(await request(port, '/regenerate', {
        method: 'POST', cookie: jar.header(), csrf: token.json.csrf
      }))
      assert.equal(rotated.status, 200, rotated.text)
      const afterRotation = jar.header()
      assert.notEqual(afterRotation, signedIn, 'the regenerate endpoint handed out a new token')
      for (const answers of (await replayOnEveryWorker(port, signedIn, pids)).values()) {
        for (const r of answers) assert.equal(r.json.user, null, `worker ${r.json.pid} refuses the pre-rotation cookie`)
      }
      for (const answers of (await replayOnEveryWorker(port, afterRotation, pids)).values()) {
        for (const r of answers) assert.equal(r.json.user, 'alice', `worker ${r.json.pid} knows the rotated cookie`)
      }

      // Sign out, then replay the last signed-in cookie: every worker refuses it.
      const again = jar.take(await request(port, '/csrf', { cookie: jar.header() }))
      const out = jar.take(await request(port, '/logout', {
        method: 'POST', cookie: jar.header(), csrf: again.json.csrf
      }))
      assert.equal(out.status, 200, out.text)
      for (const answers of (await replayOnEveryWorker(port, afterRotation, pids)).values()) {
        for (const r of answers) assert.equal(r.json.user, null, `worker ${r.json.pid} refuses the signed-out cookie`)
      }
      // A shared store warns about nothing.
      assert.deepEqual(cluster.warnings.filter((w) => String(w.code).startsWith('TESSERA_')), [])
    })
  })
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-cluster-'))
after(() => fs.rmSync(dir, { recursive: true, force: true }))
flows('cluster of 4 on the SQLite store', () => `sqlite://${path.join(dir, 'sessions.db')}`)

const skip = redisSkipReason()
describe('on Redis', { skip: skip ?? false }, () => {
  let server
  before(async () => { server = await startRedis() })
  after(() => server && server.stop())
  flows('cluster of 4 on the Redis store', () => server.url('cluster'))
})
