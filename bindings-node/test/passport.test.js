'use strict'
// Passport (≥ 0.6) local login and logout, over expressSession() and over express-session with
// TesseraStore, against real Express servers on 127.0.0.1.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const session = require('express-session')
const passport = require('passport')
const { Strategy: LocalStrategy } = require('passport-local')
const { SessionManager, ManualClock, expressSession, csrfProtection, TesseraStore } = require('..')
const { serve, Client } = require('./helpers.js')

const USERS = { alice: 'wonderland', bob: 'builder' }

function authenticator () {
  const p = new passport.Passport()
  p.use(new LocalStrategy((username, password, done) => {
    done(null, USERS[username] === password ? { id: username } : false)
  }))
  p.serializeUser((user, done) => done(null, user.id))
  p.deserializeUser((id, done) => done(null, USERS[id] ? { id } : false))
  return p
}

/** The app behind both session layers: `sessions` is the session middleware. */
function makeApp (sessions, { csrf = false } = {}) {
  const p = authenticator()
  const app = express()
  app.use(sessions)
  app.use(express.urlencoded({ extended: false }))
  app.use(p.session())
  if (csrf) {
    app.get('/form', (req, res) => res.json({ csrf: req.csrfToken() }))
    app.use(csrfProtection())
  }
  app.post('/login', p.authenticate('local', { failureMessage: false }), (req, res) => {
    res.json({ user: req.user.id, id: req.sessionID })
  })
  app.post('/logout', (req, res, next) => {
    req.logout((err) => (err ? next(err) : res.json({ ok: true })))
  })
  app.get('/private', (req, res) => {
    if (!req.user) return res.status(401).json({ user: null })
    res.json({ user: req.user.id, id: req.sessionID })
  })
  app.post('/note', (req, res) => {
    req.session.note = req.body.note
    res.json({ ok: true })
  })
  app.get('/note', (req, res) => res.json({ note: req.session.note ?? null, id: req.sessionID ?? null }))
  return app
}

function flows (name, setup) {
  describe(name, () => {
    let ctx
    before(async () => { ctx = await setup() })
    after(() => ctx.server.close())

    it('local login → protected route → logout', async () => {
      const c = new Client(ctx.server.url)
      assert.equal((await c.get('/private')).status, 401)
      const bad = await c.post('/login', { form: { username: 'alice', password: 'nope' } })
      assert.equal(bad.status, 401)
      const r = await c.post('/login', { form: { username: 'alice', password: 'wonderland' } })
      assert.equal(r.status, 200, r.text)
      assert.equal(r.json().user, 'alice')
      const me = await c.get('/private')
      assert.equal(me.status, 200)
      assert.equal(me.json().user, 'alice')
      const loggedIn = c.cookieHeader()
      const out = await c.post('/logout')
      assert.equal(out.status, 200)
      assert.equal((await c.get('/private')).status, 401)
      assert.equal((await c.get('/private', { headers: { cookie: loggedIn } })).status, 401,
        'the cookie from before logout is rejected')
    })

    it('login regenerates: new session id, the pre-login one dead at once', async () => {
      const c = new Client(ctx.server.url)
      await c.post('/note', { form: { note: 'before' } })
      const before = (await c.get('/note')).json()
      assert.equal(before.note, 'before')
      const anonymousCookie = c.cookieHeader()
      const r = await c.post('/login', { form: { username: 'bob', password: 'builder' } })
      assert.equal(r.status, 200)
      assert.notEqual(r.json().id, before.id)
      const stale = await c.get('/note', { headers: { cookie: anonymousCookie } })
      assert.equal(stale.json().note, null, 'the pre-login session is gone')
    })

    it('revokeUser logs a Passport user out (the core learns the user at login)', async () => {
      const c = new Client(ctx.server.url)
      await c.post('/login', { form: { username: 'alice', password: 'wonderland' } })
      const list = await ctx.manager.listUser('alice')
      assert.ok(list.length >= 1)
      assert.equal(await ctx.manager.revokeUser('alice'), list.length)
      assert.equal((await c.get('/private')).status, 401)
    })
  })
}

flows('Passport over expressSession()', async () => {
  const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
  const server = await serve(makeApp(expressSession({ manager })))
  return { server, manager }
})

flows('Passport over expressSession() with Promise calls', async () => {
  const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
  const server = await serve(makeApp(expressSession({ manager, sync: false })))
  return { server, manager }
})

flows('Passport over express-session with TesseraStore', async () => {
  const store = new TesseraStore({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
  const sessions = session({
    store,
    genid: store.genid,
    secret: 'test secret, not for production',
    resave: false,
    saveUninitialized: false,
    name: 'sid',
    cookie: { secure: false, httpOnly: true, sameSite: 'lax' }
  })
  const server = await serve(makeApp(sessions))
  return { server, manager: store.manager }
})

describe('Passport with CSRF protection over expressSession()', () => {
  let server
  before(async () => {
    const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
    server = await serve(makeApp(expressSession({ manager }), { csrf: true }))
  })
  after(() => server.close())

  it('the login form needs its CSRF token; a new one is needed after login', async () => {
    const c = new Client(server.url)
    const creds = { username: 'alice', password: 'wonderland' }
    assert.equal((await c.post('/login', { form: creds })).status, 403)
    const { csrf } = (await c.get('/form')).json()
    const r = await c.post('/login', { form: { ...creds, _csrf: csrf } })
    assert.equal(r.status, 200, r.text)
    assert.equal((await c.post('/logout', { form: { _csrf: csrf } })).status, 403,
      'login replaced the session and its CSRF secret')
    const fresh = (await c.get('/form')).json().csrf
    assert.equal((await c.post('/logout', { form: { _csrf: fresh } })).status, 200)
    assert.equal((await c.get('/private')).status, 401)
  })
})

describe('express-session with TesseraStore', () => {
  let server, store, clock
  before(async () => {
    clock = new ManualClock()
    store = new TesseraStore({
      cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, clock, idleTimeoutMs: 30 * 60 * 1000, absoluteTimeoutMs: 120 * 60 * 1000
    })
    const sessions = session({ store, genid: store.genid, secret: 's3cret', resave: false, saveUninitialized: false, name: 'sid' })
    server = await serve(makeApp(sessions))
  })
  after(() => server.close())

  it('idle expiry on a manual clock', async () => {
    const c = new Client(server.url)
    await c.post('/login', { form: { username: 'alice', password: 'wonderland' } })
    clock.advance(29 * 60 * 1000)
    assert.equal((await c.get('/private')).status, 200)
    clock.advance(30 * 60 * 1000)
    assert.equal((await c.get('/private')).status, 401)
  })

  it('absolute expiry on a manual clock', async () => {
    const c = new Client(server.url)
    await c.post('/login', { form: { username: 'bob', password: 'builder' } })
    for (let i = 0; i < 4; i++) {
      clock.advance(25 * 60 * 1000)
      assert.equal((await c.get('/private')).status, 200)
    }
    clock.advance(25 * 60 * 1000) // 125 minutes after login, active all along
    assert.equal((await c.get('/private')).status, 401)
  })

  it('clear() (revoke-all) logs everyone out; length() counts sessions', async () => {
    const a = new Client(server.url)
    await a.post('/login', { form: { username: 'alice', password: 'wonderland' } })
    const n = await new Promise((resolve, reject) => store.length((e, v) => (e ? reject(e) : resolve(v))))
    assert.ok(n >= 1)
    await new Promise((resolve, reject) => store.clear((e) => (e ? reject(e) : resolve())))
    const zero = await new Promise((resolve, reject) => store.length((e, v) => (e ? reject(e) : resolve(v))))
    assert.equal(zero, 0)
    assert.equal((await a.get('/private')).status, 401)
  })

  it('the store API: get, set, touch, destroy; all() is refused; foreign ids are never adopted', async () => {
    // express-session hands set() its Session, whose (non-enumerable) `req` is the request genid saw.
    const req = { method: 'GET', headers: {} }
    const sess = (data) => Object.defineProperty(data, 'req', { value: req })
    const sid = store.genid(req)
    const call = (f, ...args) => new Promise((resolve, reject) => f.call(store, ...args, (e, v) => (e ? reject(e) : resolve(v))))
    assert.equal(await call(store.get, sid), null, 'never saved')
    await call(store.set, sid, sess({ cookie: { path: '/' }, n: 1 }))
    assert.deepEqual(await call(store.get, sid), { cookie: { path: '/' }, n: 1 })
    await call(store.touch, sid, { cookie: { path: '/' }, n: 1 })
    await call(store.destroy, sid)
    assert.equal(await call(store.get, sid), null)
    await call(store.set, sid, { cookie: {}, n: 2 }) // ended: not re-created, no error
    assert.equal(await call(store.get, sid), null)
    await assert.rejects(call(store.all), { code: 'invalid_argument' })
    await call(store.set, 'chosen-by-the-client', { cookie: {} })
    assert.equal(await call(store.get, 'chosen-by-the-client'), null, 'a token the core never issued is never adopted')
  })

})
