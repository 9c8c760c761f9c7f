'use strict'
// The Express behaviours of issue 10, each through Express over real HTTP on 127.0.0.1, the way
// an app meets them: expressSession() and express-session + TesseraStore, on the memory store
// and on a private redis-server (a networked store: the calls run off the event loop).
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const express = require('express')
const session = require('express-session')
const passport = require('passport')
const { SessionManager, ManualClock, expressSession, csrfProtection, TesseraStore } = require('..')
const { serve, Client } = require('./helpers.js')
const { redisSkipReason, startRedis } = require('./redis-server.js')

const plain = { cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null }
const redisSkip = redisSkipReason()

/** Signs in the user named in the JSON body. */
class TrustStrategy extends passport.Strategy {
  constructor () { super(); this.name = 'trust' }
  authenticate (req) { this.success({ id: req.body.user }) }
}

function authenticator () {
  const p = new passport.Passport()
  p.use(new TrustStrategy())
  p.serializeUser((user, done) => done(null, user.id))
  p.deserializeUser((id, done) => done(null, { id }))
  return p
}

/** Run `body(storeOf)` on the memory store and on Redis (`storeOf(name)`: extra manager options). */
function onEachStore (label, body) {
  describe(`${label} (memory store)`, () => body(() => ({})))
  describe(`${label} (Redis)`, { skip: redisSkip ?? false }, () => {
    let server
    let n = 0
    before(async () => { server = await startRedis() })
    after(() => server && server.stop())
    body((name) => ({ store: server.url(`contract-${name}-${++n}`) }))
  })
}

onEachStore('headers sent before end(): writes, logins and logouts are not dropped', (storeOf) => {
  let srv, manager
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-send-')), 'page.txt')
  before(async () => {
    fs.writeFileSync(file, 'a page\n'.repeat(1000))
    manager = new SessionManager({ ...plain, ...storeOf('early') })
    const p = authenticator()
    const app = express()
    app.use(expressSession({ manager }))
    app.use(express.json())
    app.use(p.session())
    app.post('/logout-redirect', (req, res, next) => req.logout((err) => {
      if (err) return next(err)
      res.writeHead(302, { Location: '/' })
      res.end()
    }))
    app.post('/login-sendfile', p.authenticate('trust'), (req, res) => res.sendFile(file))
    app.post('/stream', (req, res) => {
      req.session.streamed = req.body.value
      res.write('part one, ')
      res.write('part two, ')
      res.end('done')
    })
    app.post('/write-head', (req, res) => {
      req.session.early = req.body.value
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end('ok')
    })
    app.get('/me', (req, res) => res.json({ user: req.user ? req.user.id : null, data: { ...req.session } }))
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  it('a login answered with res.sendFile keeps its session and its user', async () => {
    const c = new Client(srv.url)
    const r = await c.post('/login-sendfile', { json: { user: 'sally' } })
    assert.equal(r.status, 200)
    assert.match(r.text, /^a page/)
    assert.match(r.headers.get('cache-control'), /no-store/)
    assert.equal((await c.get('/me')).json().user, 'sally')
    assert.equal((await manager.listUser('sally')).length, 1)
  })

  it('a logout answered with res.writeHead(302) then res.end() ends the session on the server', async () => {
    const c = new Client(srv.url)
    await c.post('/login-sendfile', { json: { user: 'rita' } })
    const signedIn = c.cookieHeader()
    const r = await c.post('/logout-redirect')
    assert.equal(r.status, 302)
    assert.ok(r.setCookies.some((s) => /^sid=;.*Max-Age=0/.test(s)), 'the cookie is cleared')
    assert.equal((await manager.listUser('rita')).length, 0, 'signed out on the server')
    assert.equal((await c.get('/me', { headers: { cookie: signedIn } })).json().user, null)
  })

  it('a write whose body is streamed with res.write() is saved', async () => {
    const c = new Client(srv.url)
    const r = await c.post('/stream', { json: { value: 'kept' } })
    assert.equal(r.text, 'part one, part two, done')
    assert.deepEqual((await c.get('/me')).json().data, { streamed: 'kept' })
  })

  it('a write answered with res.writeHead(200) before end() is saved, in the session the cookie names', async () => {
    const c = new Client(srv.url)
    await c.post('/write-head', { json: { value: 1 } })
    await c.post('/write-head', { json: { value: 2 } })
    assert.deepEqual((await c.get('/me')).json().data, { early: 2 })
  })
})

onEachStore('session ids are known at once', (storeOf) => {
  let srv, manager
  before(async () => {
    manager = new SessionManager({ ...plain, ...storeOf('ids') })
    const app = express()
    app.use(expressSession({ manager }))
    app.post('/regenerate', (req, res, next) => req.session.regenerate((err) => {
      if (err) return next(err)
      const inside = { sessionID: req.sessionID, id: req.session.id }
      req.session.n = 1
      res.json(inside)
    }))
    app.post('/save', (req, res, next) => {
      req.session.n = 1
      req.session.save((err) => (err ? next(err) : res.json({ sessionID: req.sessionID, id: req.session.id })))
    })
    app.get('/id', (req, res) => res.json({ id: req.session.id }))
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  for (const route of ['/regenerate', '/save']) {
    it(`inside ${route === '/save' ? 'save(cb)' : 'regenerate(cb)'}: the new session's id, the one the response creates`, async () => {
      const c = new Client(srv.url)
      const r = (await c.post(route)).json()
      assert.match(r.id, /^[0-9a-f]{64}$/)
      assert.equal(r.sessionID, r.id)
      assert.equal((await c.get('/id')).json().id, r.id, 'the stored session has that id')
      assert.equal(manager.idOf(c.jar.get('sid')), r.id)
    })
  }
})

onEachStore('req.csrfToken() is the same call on every store', (storeOf) => {
  let srv
  before(async () => {
    const app = express()
    app.use(expressSession({ manager: new SessionManager({ ...plain, ...storeOf('csrf') }) }))
    app.get('/form', (req, res) => res.json({ csrf: req.csrfToken() }))
    app.post('/protected', csrfProtection(), (req, res) => res.json({ ok: true }))
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  it('a visitor gets a token for its form, and the token passes csrfProtection()', async () => {
    const c = new Client(srv.url)
    const { csrf } = (await c.get('/form')).json()
    assert.equal(typeof csrf, 'string')
    assert.equal((await c.post('/protected')).status, 403)
    assert.equal((await c.post('/protected', { headers: { 'x-csrf-token': csrf } })).status, 200)
  })
})

onEachStore('a 5xx response is an error: its writes are not made', (storeOf) => {
  let srv
  before(async () => {
    const app = express()
    app.use(expressSession({ manager: new SessionManager({ ...plain, ...storeOf('error') }) }))
    app.use(express.json())
    app.post('/set', (req, res) => { req.session.k = req.body.value; res.json({ ok: true }) })
    app.post('/fail', (req, res) => { req.session.k = req.body.value; res.status(500).json({ ok: false }) })
    app.get('/k', (req, res) => res.json({ k: req.session.k ?? null }))
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  it('a write in a 500 response is not saved; a visitor\'s creates no session', async () => {
    const visitor = new Client(srv.url)
    const r = await visitor.post('/fail', { json: { value: 'x' } })
    assert.equal(r.status, 500)
    assert.equal(r.setCookies.length, 0)
    const c = new Client(srv.url)
    await c.post('/set', { json: { value: 'before' } })
    assert.equal((await c.post('/fail', { json: { value: 'after' } })).status, 500)
    assert.equal((await c.get('/k')).json().k, 'before')
  })
})

onEachStore('express-session with TesseraStore', (storeOf) => {
  let srv, store, clock
  const minute = 60 * 1000
  before(async () => {
    clock = new ManualClock()
    store = new TesseraStore({ ...plain, clock, ...storeOf('store') })
    const app = express()
    app.use(session({ store, genid: store.genid, secret: 'test secret', resave: false, saveUninitialized: false, name: 'sid', cookie: { maxAge: 10 * minute } }))
    app.use(express.json())
    app.get('/read', (req, res) => res.json({ k: req.session.k ?? null, id: req.sessionID }))
    app.post('/set', (req, res) => { req.session.k = req.body.value; res.json({ id: req.sessionID }) })
    app.post('/expire', (req, res) => {
      req.session.cookie.expires = new Date(Date.now() - 1000)
      req.session.k = 'gone'
      res.json({ ok: true })
    })
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  const length = () => new Promise((resolve, reject) => store.length((e, n) => (e ? reject(e) : resolve(n))))
  const get = (sid) => new Promise((resolve, reject) => store.get(sid, (e, s) => (e ? reject(e) : resolve(s))))
  const sidOf = (c) => decodeURIComponent(c.jar.get('sid')).slice(2).split('.')[0]

  it('genid stores nothing for cookieless requests (saveUninitialized: false); length() and get() agree', async () => {
    const before = await length()
    for (let i = 0; i < 5; i++) {
      const r = await new Client(srv.url).get('/read')
      assert.equal(r.setCookies.length, 0)
      assert.equal(await get(r.json().id), null)
    }
    assert.equal(await length(), before, 'no server-side state for visitors who store nothing')
    const c = new Client(srv.url)
    const { id } = (await c.post('/set', { json: { value: 'v' } })).json()
    assert.equal(sidOf(c), id)
    assert.equal(await length(), before + 1)
    assert.equal((await get(id)).k, 'v')
  })

  it('an expired cookie\'s session no longer works (cookie.maxAge, measured by the manager\'s clock)', async () => {
    const c = new Client(srv.url)
    await c.post('/set', { json: { value: 'short' } })
    clock.advance(9 * minute)
    assert.equal((await c.get('/read')).json().k, 'short', 'touch() stored the refreshed cookie: 10 more minutes')
    clock.advance(9 * minute)
    assert.equal((await c.get('/read')).json().k, 'short')
    clock.advance(10 * minute + 1000)
    assert.equal((await c.get('/read')).json().k, null, 'unused longer than its maxAge: gone')
  })

  it('set() with an expiry in the past ends the session', async () => {
    const c = new Client(srv.url)
    await c.post('/set', { json: { value: 'v' } })
    const sid = sidOf(c)
    await c.post('/expire')
    assert.equal(await get(sid), null)
    assert.equal((await c.get('/read')).json().k, null)
  })
})

describe('data the app cannot save', () => {
  let srv, manager
  before(async () => {
    manager = new SessionManager({ ...plain, clock: new ManualClock() })
    const app = express()
    app.use(expressSession({ manager }))
    app.post('/set', (req, res) => { req.session.k = 'v'; res.json({ ok: true }) })
    app.post('/cycle', (req, res) => {
      const a = {}
      a.self = a
      req.session.bad = a
      res.json({ ok: true })
    })
    app.post('/replace', (req, res) => { req.session = { replaced: true }; res.json({ ok: true }) })
    app.get('/read', (req, res) => res.json({ ...req.session }))
    srv = await serve(app)
  })
  after(() => srv && srv.close())

  it('a value that is not JSON answers 500 and keeps the stored data; the process goes on', async () => {
    const c = new Client(srv.url)
    await c.post('/set')
    const warned = new Promise((resolve) => process.once('warning', resolve))
    const r = await c.post('/cycle')
    assert.equal(r.status, 500)
    assert.match((await warned).message, /could not save the session/)
    assert.deepEqual((await c.get('/read')).json(), { k: 'v' })
  })

  it('an object assigned to req.session is saved as the session\'s data', async () => {
    const c = new Client(srv.url)
    await c.post('/set')
    await c.post('/replace')
    assert.deepEqual((await c.get('/read')).json(), { replaced: true })
  })
})
