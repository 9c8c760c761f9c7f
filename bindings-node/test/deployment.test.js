'use strict'
// The memory-store warnings (lib/deployment.js): once per process, with a code, naming the fix;
// in a real `cluster` (the workers of cluster-app.js), and in fresh processes for the rest.
const { describe, it, after } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startCluster, request } = require('./cluster-helpers.js')

const CODES = {
  FORKED: 'TESSERA_MEMORY_STORE_FORKED',
  MULTIPROCESS: 'TESSERA_MEMORY_STORE_MULTIPROCESS',
  UNKNOWN_SESSION: 'TESSERA_MEMORY_STORE_UNKNOWN_SESSION'
}
const PEPPER = 'deployment-test-pepper-0123456789'

function namesTheFix (message) {
  assert.match(message, /sqlite:\/\/\/path\/sessions\.db/)
  assert.match(message, /redis:\/\//)
}

/** Run `script` in a fresh node process (the package as `tessera`); its warnings as JSON. */
function warningsOf (script) {
  const prelude = "const tessera = require(process.argv[1]); const seen = [];\n" +
    "process.on('warning', (w) => seen.push({ code: w.code ?? null, name: w.name, message: w.message }));\n" +
    "process.on('exit', () => process.stdout.write(JSON.stringify(seen)));\n"
  const out = execFileSync(process.execPath, ['-e', prelude + script, path.join(__dirname, '..')],
    { encoding: 'utf8', timeout: 20000 })
  return JSON.parse(out).filter((w) => String(w.code).startsWith('TESSERA_'))
}

describe('in a cluster of 2 on the memory store', () => {
  it('each worker warns once (MULTIPROCESS), and an unknown token says it is another worker\'s', async () => {
    const cluster = await startCluster({ workers: 2, env: { TESSERA_STORE: 'memory://', TESSERA_PEPPER: PEPPER } })
    try {
      const { port, pids } = cluster
      // A session on one worker, its cookie sent until the other worker has answered it.
      const made = await request(port, '/remember')
      assert.equal(made.status, 200, made.text)
      const token = made.setCookie.get('sid')
      assert.ok(token, 'the worker set a session cookie')
      let other = null
      for (let i = 0; i < 20 && other === null; i++) {
        const r = await request(port, '/me', { cookie: `sid=${token}` })
        if (r.json.pid !== made.json.pid) other = r.json.pid
      }
      assert.notEqual(other, null, 'the other worker answered within 20 requests')
      // More requests of both kinds: still one warning of each kind per process.
      for (let i = 0; i < 6; i++) await request(port, '/me', { cookie: `sid=${token}` })
      await cluster.flush()

      const mine = cluster.warnings.filter((w) => String(w.code).startsWith('TESSERA_'))
      for (const pid of pids) {
        const multi = mine.filter((w) => w.pid === pid && w.code === CODES.MULTIPROCESS)
        assert.equal(multi.length, 1, `worker ${pid} warned once that it is a cluster worker`)
        assert.equal(multi[0].name, 'TesseraDeploymentWarning')
        assert.match(multi[0].message, /cluster worker/)
        namesTheFix(multi[0].message)
      }
      const unknown = mine.filter((w) => w.code === CODES.UNKNOWN_SESSION)
      assert.equal(unknown.length, 1, 'one unknown-session warning, by the worker that did not make the session')
      assert.equal(unknown[0].pid, other)
      assert.match(unknown[0].message, /another worker process, not forged/)
      namesTheFix(unknown[0].message)
      for (const w of mine) assert.ok(!w.message.includes(token), 'no warning carries a token')
      assert.equal(mine.filter((w) => w.code === CODES.FORKED).length, 0)
    } finally {
      await cluster.stop()
    }
  })

  it('a shared store (SQLite) in the same cluster warns about nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-deploy-'))
    const cluster = await startCluster({
      workers: 2,
      env: { TESSERA_STORE: `sqlite://${path.join(dir, 's.db')}`, TESSERA_PEPPER: PEPPER }
    })
    try {
      const made = await request(cluster.port, '/remember')
      for (let i = 0; i < 6; i++) await request(cluster.port, '/me', { cookie: `sid=${made.setCookie.get('sid')}` })
      await cluster.flush()
      assert.deepEqual(cluster.warnings.filter((w) => String(w.code).startsWith('TESSERA_')), [])
    } finally {
      await cluster.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('in a single process', () => {
  it('the memory store in one process warns about nothing (storeIsShared false, forked false)', () => {
    const seen = warningsOf(`
      const m = new tessera.SessionManager({})
      if (m.storeIsShared !== false || m.forked !== false) throw new Error('memory: ' + m.storeIsShared + ' ' + m.forked)
      tessera.expressSession({ manager: m })
      new tessera.TesseraStore({ manager: m })
    `)
    assert.deepEqual(seen, [])
  })

  it('storeIsShared is true for SQLite', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-deploy-'))
    after(() => fs.rmSync(dir, { recursive: true, force: true }))
    const seen = warningsOf(`
      const m = new tessera.SessionManager({ store: 'sqlite://${path.join(dir, 's.db')}' })
      if (m.storeIsShared !== true || m.forked !== false) throw new Error('sqlite: ' + m.storeIsShared + ' ' + m.forked)
    `)
    assert.deepEqual(seen, [])
  })

  // Node has no fork() without exec (cluster and child_process start fresh processes), so a
  // manager can be forked only by native code; what the glue does with the core's `forked` is
  // checked with a manager that reports it (the core's own tests check `forked` after a fork).
  it('a manager reporting forked warns once (FORKED), naming the fix', () => {
    const seen = warningsOf(`
      const deployment = require(require('node:path').join(process.argv[1], 'lib', 'deployment.js'))
      const forked = { storeIsShared: false, forked: true }
      if (deployment.checkManager(forked) !== true) throw new Error('an unknown token must then warn')
      deployment.checkManager(forked)
      deployment.unknownSession(); deployment.unknownSession()
    `)
    assert.deepEqual(seen.map((w) => w.code), [CODES.FORKED, CODES.UNKNOWN_SESSION])
    assert.match(seen[0].message, /used after a fork\(\)/)
    for (const w of seen) namesTheFix(w.message)
  })
})

describe('store configuration warnings', () => {
  it('a Redis URL without a prefix warns once per process, naming the fix', () => {
    // Nothing connects when a manager is built (and nothing listens on port 1).
    const seen = warningsOf(
      "new tessera.SessionManager({ store: 'redis://127.0.0.1:1/0', sweepIntervalMs: null });\n" +
      "new tessera.SessionManager({ store: 'redis://127.0.0.1:1/0', sweepIntervalMs: null });\n" +
      "new tessera.SessionManager({ store: 'redis://127.0.0.1:1/0?prefix=shop', sweepIntervalMs: null });\n")
    assert.equal(seen.length, 1, JSON.stringify(seen))
    assert.equal(seen[0].code, 'TESSERA_STORE_CONFIGURATION')
    assert.equal(seen[0].name, 'TesseraDeploymentWarning')
    assert.match(seen[0].message, /add \?prefix=<app> to the URL/)
  })

  it('storeWarnings lists them; a named prefix has none', () => {
    const { SessionManager } = require('..')
    const bare = new SessionManager({ store: 'redis://127.0.0.1:1/0', sweepIntervalMs: null })
    assert.equal(bare.storeWarnings.length, 1)
    const named = new SessionManager({ store: 'redis://127.0.0.1:1/0?prefix=x', sweepIntervalMs: null })
    assert.deepEqual(named.storeWarnings, [])
    assert.deepEqual(new SessionManager().storeWarnings, [])
  })
})
