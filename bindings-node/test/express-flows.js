'use strict'
// The expressSession() flows against a real Express server on 127.0.0.1, over HTTP, for any
// store: express.test.js runs them on the memory store (synchronous and Promise calls),
// redis.test.js on Redis. Defines no tests until defineFlows() is called.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const { SessionManager, ManualClock, expressSession, csrfProtection } = require('..')
const { serve, Client, Gates } = require('./helpers.js')

const MIN = 60 * 1000

function makeApp (manager, sync, gates = new Gates()) {
  const app = express()
  app.use(expressSession({ manager, sync }))
  app.use(express.urlencoded({ extended: false }))
  app.use(express.json())
  // req.csrfToken() works the same on every store.
  app.get('/csrf', (req, res) => res.json({ csrf: req.csrfToken() }))
  app.use(csrfProtection())
  app.post('/login', (req, res) => {
    req.tessera.login(req.body.user)
    res.json({ ok: true })
  })
  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })))
  })
  app.get('/me', (req, res) => {
    if (!req.tessera.user) return res.status(401).json({ user: null })
    res.json({ user: req.tessera.user, id: req.session.id, visits: req.session.visits ?? 0 })
  })
  app.post('/visit', (req, res) => {
    req.session.visits = (req.session.visits ?? 0) + 1
    res.json({ visits: req.session.visits })
  })
  app.post('/set/:key', (req, res) => {
    req.session[req.params.key] = req.body.value
    res.json({ ok: true })
  })
  app.get('/data', (req, res) => {
    const { ...data } = req.session
    res.json({ id: req.session.id, data })
  })
  // Sets the key, then waits at the barrier named by the x-hold header until the test releases it.
  app.post('/held-set/:key', (req, res) => {
    req.session[req.params.key] = req.body.value
    gates.reach(req.get('x-hold')).then(() => res.json({ ok: true }))
  })
  return app
}

/**
 * Define the flows as the suite `label`: `sync` picks the synchronous or the Promise calls,
 * `extra(name)` returns more SessionManager options (e.g. a Redis store with prefix `name`); it
 * is called when the suite starts.
 */
function defineFlows (label, { sync, extra = () => ({}) }) {
  describe(label, () => {
    let clock, manager, server
    const gates = new Gates()

    before(async () => {
      clock = new ManualClock()
      manager = new SessionManager({
        ...extra('main'),
        clock,
        cookieName: 'sid',
        cookieSecure: false,
        sweepIntervalMs: null,
        idleTimeoutMs: 30 * MIN,
        absoluteTimeoutMs: 120 * MIN,
        rotationIntervalMs: null
      })
      server = await serve(makeApp(manager, sync, gates))
    })
    after(() => server.close())

    async function login (client, user) {
      const { csrf } = (await client.get('/csrf')).json()
      const r = await client.post('/login', { json: { user }, headers: { 'x-csrf-token': csrf } })
      assert.equal(r.status, 200, r.text)
      return r
    }

    it('login → protected route → logout; the old cookie is dead afterwards', async () => {
      const c = new Client(server.url)
      assert.equal((await c.get('/me')).status, 401)
      const r = await login(c, 'alice')
      assert.match(r.headers.get('cache-control'), /no-store/)
      const me = await c.get('/me')
      assert.equal(me.status, 200)
      assert.equal(me.json().user, 'alice')
      const loggedIn = c.cookieHeader()

      const { csrf } = (await c.get('/csrf')).json()
      const out = await c.post('/logout', { headers: { 'x-csrf-token': csrf } })
      assert.equal(out.status, 200)
      assert.ok(out.setCookies.some((s) => /^sid=;.*Max-Age=0/.test(s)), 'the cookie is cleared')
      assert.match(out.headers.get('cache-control'), /no-store/)
      assert.equal((await c.get('/me')).status, 401)
      // A copy of the cookie taken before logout is worthless.
      const replay = await c.get('/me', { headers: { cookie: loggedIn } })
      assert.equal(replay.status, 401)
    })

    it('the session id changes at login and the pre-login token dies at once', async () => {
      const c = new Client(server.url)
      await c.post('/visit', { headers: { 'x-csrf-token': (await c.get('/csrf')).json().csrf } })
      const before = (await c.get('/data')).json()
      const anonymousCookie = c.cookieHeader()
      assert.ok(before.id)
      await login(c, 'bob')
      const afterLogin = (await c.get('/me')).json()
      assert.notEqual(afterLogin.id, before.id)
      assert.equal(afterLogin.visits, 1, 'anonymous data is carried into the login session')
      const old = await c.get('/data', { headers: { cookie: anonymousCookie } })
      assert.notEqual(old.json().id, before.id, 'the pre-login token no longer names a session')
      assert.deepEqual(old.json().data, {})
    })

    it('the Set-Cookie carries the core attributes and only the token', async () => {
      const c = new Client(server.url)
      const r = await login(c, 'attributes')
      const sc = r.setCookies.find((s) => s.startsWith('sid='))
      assert.match(sc, /^sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
    })

    it('idle expiry on a manual clock', async () => {
      const c = new Client(server.url)
      await login(c, 'idle-user')
      clock.advance(29 * MIN)
      assert.equal((await c.get('/me')).status, 200, 'used within the idle window')
      clock.advance(29 * MIN)
      assert.equal((await c.get('/me')).status, 200, 'each use slides the window')
      clock.advance(30 * MIN)
      const r = await c.get('/me')
      assert.equal(r.status, 401, 'idle for 30 minutes: gone')
      assert.ok(r.setCookies.some((s) => /Max-Age=0/.test(s)), 'the dead cookie is cleared')
    })

    it('absolute expiry on a manual clock, however active', async () => {
      const c = new Client(server.url)
      await login(c, 'busy-user')
      for (let i = 0; i < 5; i++) {
        clock.advance(20 * MIN)
        assert.equal((await c.get('/me')).status, 200)
      }
      clock.advance(20 * MIN + 1) // 120 minutes since login
      assert.equal((await c.get('/me')).status, 401)
    })

    it('revokeAll logs everyone out', async () => {
      const a = new Client(server.url)
      const b = new Client(server.url)
      await login(a, 'carol')
      await login(b, 'dave')
      const n = sync ? manager.revokeAllSync() : await manager.revokeAll()
      assert.ok(n >= 2)
      assert.equal((await a.get('/me')).status, 401)
      assert.equal((await b.get('/me')).status, 401)
    })

    it('revokeUser ends that user\'s sessions only', async () => {
      const a1 = new Client(server.url)
      const a2 = new Client(server.url)
      const other = new Client(server.url)
      await login(a1, 'erin')
      await login(a2, 'erin')
      await login(other, 'frank')
      assert.equal(await manager.revokeUser('erin'), 2)
      assert.equal((await a1.get('/me')).status, 401)
      assert.equal((await a2.get('/me')).status, 401)
      assert.equal((await other.get('/me')).status, 200)
    })

    it('CSRF: unsafe requests need the session\'s token (header or form field)', async () => {
      const c = new Client(server.url)
      const { csrf } = (await c.get('/csrf')).json()
      const none = await c.post('/visit')
      assert.equal(none.status, 403)
      assert.match(none.text, /CSRF token/)
      assert.equal((await c.post('/visit', { headers: { 'x-csrf-token': 'x'.repeat(86) } })).status, 403)
      assert.equal((await c.post('/visit', { headers: { 'x-csrf-token': csrf } })).status, 200)
      assert.equal((await c.post('/visit', { form: { _csrf: csrf } })).status, 200)
      // Another session's token is worthless here.
      const other = new Client(server.url)
      const foreign = (await other.get('/csrf')).json().csrf
      assert.equal((await c.post('/visit', { headers: { 'x-csrf-token': foreign } })).status, 403)
      // No session at all: rejected.
      assert.equal((await new Client(server.url).post('/visit', { headers: { 'x-csrf-token': csrf } })).status, 403)
    })

    it('login replaces the CSRF secret', async () => {
      const c = new Client(server.url)
      const { csrf } = (await c.get('/csrf')).json()
      await c.post('/login', { json: { user: 'gina' }, headers: { 'x-csrf-token': csrf } })
      assert.equal((await c.post('/visit', { headers: { 'x-csrf-token': csrf } })).status, 403)
    })

    it('two cookies of the session\'s name: anonymous, and the cookie is cleared', async () => {
      const c = new Client(server.url)
      await login(c, 'henry')
      const good = c.jar.get('sid')
      const r = await c.get('/me', { headers: { cookie: `sid=${good}; sid=${good}` } })
      assert.equal(r.status, 401)
      assert.ok(r.setCookies.some((s) => /^sid=;.*Max-Age=0/.test(s)))
      const swapped = await c.get('/me', { headers: { cookie: `other=1; sid=AAAA; sid=${good}` } })
      assert.equal(swapped.status, 401)
    })

    it('concurrent requests writing different keys do not clobber each other', async () => {
      const c = new Client(server.url)
      await login(c, 'concurrent')
      const { csrf } = (await c.get('/csrf')).json()
      const h = { 'x-csrf-token': csrf }
      // All three read the session before any of them saves.
      const held = ['a', 'b', 'c'].map((k, i) => c.post(`/held-set/${k}`,
        { json: { value: [1, 2, { deep: [1, 2] }][i] }, headers: { ...h, 'x-hold': `clobber-${sync}-${k}` } }))
      for (const k of ['a', 'b', 'c']) await gates.arrived(`clobber-${sync}-${k}`)
      for (const k of ['a', 'b', 'c']) gates.release(`clobber-${sync}-${k}`)
      await Promise.all(held)
      const { data } = (await c.get('/data')).json()
      assert.deepEqual(data, { a: 1, b: 2, c: { deep: [1, 2] } })
    })

    it('a write racing a logout does not resurrect the session', async () => {
      const c = new Client(server.url)
      await login(c, 'ida')
      const { csrf } = (await c.get('/csrf')).json()
      const h = { 'x-csrf-token': csrf }
      const slow = c.post('/held-set/k', { json: { value: 'late' }, headers: { ...h, 'x-hold': 'race' } })
      await gates.arrived('race') // the request has read its session and set the key
      assert.equal(await manager.revokeUser('ida'), 1)
      gates.release('race')
      const r = await slow
      assert.equal(r.status, 200)
      assert.equal((await c.get('/me')).status, 401)
      assert.equal((await manager.listUser('ida')).length, 0)
    })

    it('rotation: a new cookie on the core\'s schedule; the old token works within the grace', async () => {
      const rclock = new ManualClock()
      const rm = new SessionManager({
        ...extra('rotation'),
        clock: rclock, cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, rotationIntervalMs: 10 * MIN, rotationGraceMs: 30000
      })
      const srv = await serve(makeApp(rm, sync))
      try {
        const c = new Client(srv.url)
        await login(c, 'jill')
        const first = c.jar.get('sid')
        rclock.advance(10 * MIN)
        const r = await c.get('/me')
        assert.equal(r.status, 200)
        const second = c.jar.get('sid')
        assert.notEqual(second, first, 'rotated')
        assert.match(r.headers.get('cache-control'), /no-store/)
        // A second browser tab still holding the old cookie (an in-flight request).
        const tab = new Client(srv.url)
        tab.jar.set('sid', first)
        const old = await tab.get('/me')
        assert.equal(old.status, 200, 'the old token is an alias for the grace period')
        assert.equal(old.setCookies.length, 0, 'an alias never rotates again')
        rclock.advance(30001)
        assert.equal((await tab.get('/me')).status, 401)
        assert.equal((await c.get('/me')).status, 200)
      } finally {
        await srv.close()
      }
    })

    it('a visitor who stores nothing gets no session and no cookie', async () => {
      const c = new Client(server.url)
      const r = await c.get('/me')
      assert.equal(r.setCookies.length, 0)
      assert.equal(r.headers.get('cache-control'), null)
    })
  })
}

module.exports = { defineFlows, makeApp }
