'use strict'
// The reference app of the HTTP corpus (tests/http/README.md) on Express, with Passport for
// login and logout (a trivial strategy: the body's user is who signs in). One app, two session
// layers: expressSession() or express-session + TesseraStore. Defines no tests.
const express = require('express')
const session = require('express-session')
const passport = require('passport')
const { expressSession, csrfProtection, TesseraStore } = require('..')

// Keys the app's framework keeps in the session: never shown as the app's data.
const PRIVATE = new Set(['passport', 'cookie'])

/** Signs in the user named in the request body. */
class TrustStrategy extends passport.Strategy {
  constructor () {
    super()
    this.name = 'trust'
  }

  authenticate (req) {
    const user = req.body && req.body.user
    if (typeof user !== 'string' || user === '') return this.fail(400)
    this.success({ id: user })
  }
}

function authenticator () {
  const p = new passport.Passport()
  p.use(new TrustStrategy())
  p.serializeUser((user, done) => done(null, user.id))
  p.deserializeUser((id, done) => done(null, { id }))
  return p
}

/** The session layer: expressSession() on `manager`, or express-session over a TesseraStore. */
function sessionLayer (kind, manager, cookie) {
  if (kind === 'expressSession') return expressSession({ manager })
  const store = new TesseraStore({ manager })
  const sessions = session({
    store,
    genid: store.genid,
    secret: 'corpus secret, not for production',
    resave: false,
    saveUninitialized: false,
    name: cookie.name,
    proxy: true,
    cookie: {
      path: cookie.path,
      domain: cookie.domain ?? undefined,
      httpOnly: cookie.httpOnly,
      secure: cookie.secure,
      sameSite: cookie.sameSite,
      maxAge: cookie.maxAgeMs ?? undefined
    }
  })
  // express-session sets no Cache-Control: a response that sets the session cookie must not be
  // kept by a shared cache, so the app adds `no-store` itself (README: "express-session").
  return (req, res, next) => {
    const writeHead = res.writeHead
    res.writeHead = function (...args) {
      const sc = [].concat(res.getHeader('set-cookie') ?? [])
      if (sc.some((c) => String(c).startsWith(cookie.name + '='))) res.setHeader('Cache-Control', 'no-store')
      return writeHead.apply(this, args)
    }
    sessions(req, res, next)
  }
}

/**
 * The app. `gates` (helpers.js) holds a request whose `x-test-hold` header names a gate after
 * its action, until the runner releases it. `loginKeepsData`: whether Passport keeps the
 * session's data at login (`keepSessionInfo`), as the manager's `loginKeepsData` says.
 */
function referenceApp ({ kind, manager, cookie, gates, loginKeepsData, absoluteTimeoutMs }) {
  const p = authenticator()
  const app = express()
  app.set('trust proxy', true) // X-Forwarded-Proto: https marks a request as HTTPS
  app.use(sessionLayer(kind, manager, cookie))
  app.use(express.json())
  app.use(p.session())

  const view = (req) => {
    const data = {}
    if (req.session) {
      for (const key of Object.keys(req.session)) if (!PRIVATE.has(key)) data[key] = req.session[key]
    }
    return { user: req.user ? req.user.id : null, data }
  }
  // Respond after the gate the runner controls, if the request is held.
  const hold = (req) => {
    const name = req.get('x-test-hold')
    return name ? gates.reach(name) : Promise.resolve()
  }
  const respond = (req, res, body = view(req)) => hold(req).then(() => res.json(body))
  const body = (req) => req.body || {}

  const login = (req, res, next, done) => {
    p.authenticate('trust', { keepSessionInfo: loginKeepsData }, (err, user) => {
      if (err || !user) return next(err || new Error('no user'))
      req.login(user, { keepSessionInfo: loginKeepsData }, (err) => (err ? next(err) : done()))
    })(req, res, next)
  }
  const logout = (req, next, done) => req.logout((err) => (err ? next(err) : done()))

  app.get('/read', (req, res) => respond(req, res))
  app.post('/set', (req, res) => {
    req.session[body(req).key] = body(req).value
    respond(req, res)
  })
  app.post('/delete', (req, res) => {
    delete req.session[body(req).key]
    respond(req, res)
  })
  app.post('/append', (req, res) => {
    const { key, value } = body(req)
    const list = req.session[key]
    if (Array.isArray(list)) list.push(value)
    else req.session[key] = [value]
    respond(req, res)
  })
  app.post('/flash', (req, res) => {
    const { message, category } = body(req)
    const list = req.session._flashes
    if (Array.isArray(list)) list.push([category, message])
    else req.session._flashes = [[category, message]]
    respond(req, res)
  })
  app.get('/flashes', (req, res) => {
    const flashes = req.session._flashes ?? []
    delete req.session._flashes
    respond(req, res, { flashes })
  })
  app.post('/login', (req, res, next) => login(req, res, next, () => respond(req, res)))
  app.post('/logout', (req, res, next) => logout(req, next, () => {
    const { key, value } = body(req)
    if (key !== undefined) req.session[key] = value // written after the logout
    respond(req, res)
  }))
  app.post('/regenerate', (req, res, next) => {
    const kept = {}
    for (const key of Object.keys(req.session)) if (key !== 'cookie') kept[key] = req.session[key]
    req.session.regenerate((err) => {
      if (err) return next(err)
      Object.assign(req.session, kept)
      respond(req, res)
    })
  })
  app.post('/expiry', (req, res) => {
    const { seconds, permanent } = body(req)
    const cookie = req.session.cookie
    if (permanent === true) cookie.maxAge = absoluteTimeoutMs // as long as the session can live
    else if (permanent === false || seconds === 0) cookie.expires = false // a browser-session cookie
    else if (seconds === null) cookie.maxAge = null // the configured policy
    else cookie.maxAge = seconds * 1000
    respond(req, res)
  })
  if (kind === 'expressSession') {
    app.get('/csrf', (req, res) => respond(req, res, { csrf: req.csrfToken() }))
    app.all('/protected', csrfProtection(), (req, res) => respond(req, res, { ok: true }))
  }
  // Does the action of /early and /stream, then `done()`.
  const act = (req, res, next, done) => {
    const b = body(req)
    if (b.logout) return logout(req, next, done)
    if (b.login !== undefined) {
      req.body = { user: b.login }
      return login(req, res, next, done)
    }
    if (b.key !== undefined) req.session[b.key] = b.value
    done()
  }
  app.post('/error', (req, res, next) => act(req, res, next, () => hold(req).then(() => {
    res.status(500).json({ error: true })
  })))
  app.post('/early', (req, res, next) => act(req, res, next, () => hold(req).then(() => {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ ok: true }))
  })))
  app.post('/stream', (req, res, next) => act(req, res, next, () => hold(req).then(() => {
    res.setHeader('Content-Type', 'application/json')
    res.write('{"ok"')
    res.write(':')
    res.end('true}')
  })))
  app.use((err, req, res, next) => {
    const status = { invalid_argument: 400, store_unavailable: 503, store_full: 503 }[err && err.code] ?? 500
    res.status(status).json({ error: String(err && err.code) })
  })
  return app
}

module.exports = { referenceApp }
