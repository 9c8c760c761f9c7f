'use strict'
// The Node binding on Redis, against a private redis-server started for this file:
// expressSession() over HTTP (the Promise path), Passport login/logout, a session shared by two
// managers, and the event loop while Redis stalls (SIGSTOP) or restarts: validate fails closed
// with `store_unavailable` within the command timeout, timers keep running, and service resumes
// without a new manager.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const passport = require('passport')
const { Strategy: LocalStrategy } = require('passport-local')
const { SessionManager, expressSession } = require('..')
const { serve, Client } = require('./helpers.js')
const { defineFlows } = require('./express-flows.js')
const { redisSkipReason, startRedis } = require('./redis-server.js')

const skip = redisSkipReason()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const plain = { cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null }

describe('on Redis', { skip: skip ?? false }, () => {
  let server
  let prefixes = 0
  const prefix = (name) => `node-${name}-${++prefixes}`
  before(async () => { server = await startRedis() })
  after(() => server && server.stop())

  defineFlows('expressSession on Redis (Promise calls)', { sync: false, extra: (name) => ({ store: server.url(prefix(name)) }) })

  describe('expressSession and Passport on Redis', () => {
    let srv, manager
    before(async () => {
      manager = new SessionManager({ ...plain, store: server.url(prefix('passport')) })
      const p = new passport.Passport()
      p.use(new LocalStrategy((username, password, done) => done(null, password === 'pw' ? { id: username } : false)))
      p.serializeUser((user, done) => done(null, user.id))
      p.deserializeUser((id, done) => done(null, { id }))
      const app = express()
      app.use(expressSession({ manager }))
      app.use(express.urlencoded({ extended: false }))
      app.use(p.session())
      app.post('/login', p.authenticate('local'), (req, res) => res.json({ user: req.user.id, id: req.sessionID }))
      app.post('/logout', (req, res, next) => req.logout((err) => (err ? next(err) : res.json({ ok: true }))))
      app.get('/private', (req, res) => req.user ? res.json({ user: req.user.id }) : res.status(401).end())
      srv = await serve(app)
    })
    after(() => srv && srv.close())

    it('login → protected route → revokeUser / logout; old cookies are dead', async () => {
      assert.equal(expressSession({ manager }).name, 'tesseraSessionAsync', 'a networked store takes the Promise path')
      const c = new Client(srv.url)
      const r = await c.post('/login', { form: { username: 'zed', password: 'pw' } })
      assert.equal(r.status, 200, r.text)
      assert.equal((await c.get('/private')).json().user, 'zed')
      assert.equal((await manager.listUser('zed')).length, 1, 'the core knows the Passport user')
      const loggedIn = c.cookieHeader()
      assert.equal((await c.post('/logout')).status, 200)
      assert.equal((await c.get('/private')).status, 401)
      assert.equal((await c.get('/private', { headers: { cookie: loggedIn } })).status, 401)

      const d = new Client(srv.url)
      await d.post('/login', { form: { username: 'zed', password: 'pw' } })
      assert.equal((await d.get('/private')).status, 200)
      assert.equal(await manager.revokeUser('zed'), 1)
      assert.equal((await d.get('/private')).status, 401)
    })
  })

  it('a session created by one manager is seen, changed and ended by another on the same Redis', async () => {
    const store = server.url(prefix('shared'))
    const a = new SessionManager({ ...plain, store })
    const b = new SessionManager({ ...plain, store })
    const s = await a.create('yves', { theme: 'dark' })
    const seen = await b.validate(s.newToken)
    assert.equal(seen.valid, true)
    assert.equal(seen.id, s.id)
    assert.equal(seen.user, 'yves')
    assert.deepEqual(seen.data, { theme: 'dark' })
    await b.updateData(s.id, { n: 1 }, ['theme'])
    assert.deepEqual((await a.validate(s.newToken)).data, { n: 1 })
    assert.deepEqual((await a.listUser('yves')).map((i) => i.id), [s.id])
    const rotated = await b.rotate(s.newToken)
    assert.equal((await a.validate(rotated.newToken)).id, rotated.id, 'a rotation by one is seen by the other')
    assert.equal(await b.logout(rotated.newToken), true)
    assert.equal((await a.validate(rotated.newToken)).reason, 'unknown')
    assert.equal((await a.validate(s.newToken)).valid, false)
  })

  it('the middleware path (one call per request) sees another manager\'s session', async () => {
    const store = server.url(prefix('shared-mw'))
    const writer = new SessionManager({ ...plain, store })
    const reader = new SessionManager({ ...plain, store })
    const s = await writer.login(null, 'xena')
    await writer.updateData(s.id, { cart: [1, 2] })
    const app = express()
    app.use(expressSession({ manager: reader }))
    app.get('/', (req, res) => res.json({ id: req.session.id, user: req.tessera.user, cart: req.session.cart }))
    const srv = await serve(app)
    try {
      const r = await new Client(srv.url).get('/', { headers: { cookie: `sid=${s.newToken}` } })
      assert.deepEqual(r.json(), { id: s.id, user: 'xena', cart: [1, 2] })
    } finally {
      await srv.close()
    }
  })

  describe('Redis stalls and restarts', () => {
    const TIMEOUT_MS = 300
    let manager, store

    before(async () => {
      store = server.url(prefix('stall'), { command_timeout_ms: String(TIMEOUT_MS), connect_timeout_ms: String(TIMEOUT_MS) })
      manager = new SessionManager({ ...plain, store })
    })
    after(() => { if (server.paused) server.resume() })

    it('while Redis is frozen (SIGSTOP) the event loop runs and validate rejects with store_unavailable in time', async () => {
      const s = await manager.create('walt')
      assert.equal((await manager.validate(s.newToken)).valid, true)
      let ticks = 0
      const timer = setInterval(() => ticks++, 5)
      server.pause()
      try {
        const started = Date.now()
        const outcomes = []
        // Several at once: some need a new connection, which must be bounded too.
        const calls = [manager.validate(s.newToken), manager.validate(s.newToken), manager.create()]
        for (const p of calls) {
          outcomes.push(p.then((v) => ({ resolved: v }), (err) => ({ err, ms: Date.now() - started })))
        }
        await sleep(TIMEOUT_MS / 2)
        assert.ok(ticks >= 5, `the event loop kept running while the Promises were pending (${ticks} ticks)`)
        const settled = await Promise.all(outcomes)
        for (const o of settled) {
          assert.equal(o.resolved, undefined, 'never resolves while Redis is frozen (never "valid")')
          assert.equal(o.err.code, 'store_unavailable')
          assert.equal(o.err.name, 'StoreUnavailableError')
          // The configured bound (a new connection: connect + command timeout), plus slack for a busy machine.
          assert.ok(o.ms < 2 * TIMEOUT_MS + 1500, `rejected after ${o.ms} ms`)
        }
      } finally {
        server.resume()
        clearInterval(timer)
      }
      // The same manager works again: broken connections are replaced.
      let v
      for (let i = 0; i < 20; i++) {
        try { v = await manager.validate(s.newToken); break } catch (err) { assert.equal(err.code, 'store_unavailable'); await sleep(50) }
      }
      assert.equal(v && v.valid, true)
    })

    it('expressSession answers 500 (never authenticated) while Redis is frozen and recovers after SIGCONT', async () => {
      const s = await manager.login(null, 'vera')
      const app = express()
      app.use(expressSession({ manager }))
      app.get('/', (req, res) => res.json({ user: req.tessera.user }))
      app.use((err, req, res, next) => res.status(500).json({ code: err.code }))
      const srv = await serve(app)
      const c = new Client(srv.url)
      const cookie = { cookie: `sid=${s.newToken}` }
      try {
        assert.deepEqual((await c.get('/', { headers: cookie })).json(), { user: 'vera' })
        server.pause()
        let r
        try {
          r = await c.get('/', { headers: cookie })
        } finally {
          server.resume()
        }
        assert.equal(r.status, 500)
        assert.deepEqual(r.json(), { code: 'store_unavailable' })
        let ok
        for (let i = 0; i < 20 && !ok; i++) {
          const again = await c.get('/', { headers: cookie })
          if (again.status === 200) ok = again.json()
          else await sleep(50)
        }
        assert.deepEqual(ok, { user: 'vera' })
      } finally {
        await srv.close()
      }
    })

    it('a restart (crash, empty Redis) is survived by the same manager: calls succeed again', async () => {
      const s = await manager.create('uma')
      await server.restart()
      let v
      for (let i = 0; i < 20; i++) {
        try { v = await manager.validate(s.newToken); break } catch (err) { assert.equal(err.code, 'store_unavailable'); await sleep(50) }
      }
      assert.ok(v, 'validate works again after the restart')
      assert.equal(v.valid, false, 'nothing was persisted: the session is gone, and not valid')
      const fresh = await manager.create('uma')
      assert.equal((await manager.validate(fresh.newToken)).valid, true)
    })
  })

  it('Promise calls wait on the store\'s own threads, not on the libuv pool', async () => {
    // The threads of the store's runtime are named tessera-redis: its I/O thread, and one per
    // call waiting on Redis. Node's libuv pool has 4 threads, so 8 calls stuck on the libuv pool
    // would also starve a file read; on the store's pool they do not.
    const fs = require('node:fs')
    const redisThreads = () => fs.readdirSync('/proc/self/task').filter((t) => {
      try { return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'tessera-redis' } catch { return false }
    }).length
    const m = new SessionManager({ ...plain, store: server.url(prefix('pool'), { command_timeout_ms: '20000' }) })
    const made = await m.create('pia')
    server.pause()
    try {
      const pending = Array.from({ length: 8 }, () => m.validate(made.newToken))
      const deadline = Date.now() + 10000
      while (redisThreads() < 9) {
        assert.ok(Date.now() < deadline, `8 calls waiting on the store's threads (${redisThreads()} seen)`)
        await new Promise((resolve) => setImmediate(resolve))
      }
      // All 8 are waiting on the frozen Redis, and the libuv pool is free.
      assert.ok((await fs.promises.readFile(__filename)).length > 0)
      server.resume()
      for (const r of await Promise.all(pending)) assert.equal(r.valid, true)
    } finally {
      if (server.paused) server.resume()
    }
  })
})
