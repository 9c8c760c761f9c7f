'use strict'
// The Express demo site, one of three (Flask, Express, C) that share one session store. The
// routes, forms and pages are those of the Flask site (bindings-python/demo/app.py).
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const express = require('express')
const { expressSession, csrfProtection, requireRecent } = require('..')
const { SITE, SITE_NAMES, manager: makeManager } = require('./config.js')
const { EventLog } = require('./events.js')
const pages = require('./pages.js')

const ASSETS = { 'demo.js': 'text/javascript', 'demo.css': 'text/css' }
// Peers whose plain-HTTP requests the demo reports to Tessera as HTTPS: Chromium treats loopback
// as a secure context (it keeps Secure cookies there), so device binding can be offered on
// http://127.0.0.1. Any other peer stays plain HTTP, and gets no binding offer.
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])

/** A local path to go back to after re-authenticating; never another site. */
function safeNext (next) {
  const n = typeof next === 'string' ? next : ''
  return n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : '/account'
}

function samePassword (given, expected) {
  // Equal-length digests, compared in constant time.
  const a = crypto.createHash('sha256').update(String(given)).digest()
  const b = crypto.createHash('sha256').update(expected).digest()
  return crypto.timingSafeEqual(a, b)
}

function createApp (config) {
  const { manager, clock } = makeManager(config)
  const events = new EventLog(config.events, SITE_NAMES[SITE])
  manager.onEvent((event) => events.record(event))
  const app = express()
  app.disable('x-powered-by')

  // Before the session middleware: the events feed, the shared assets and the test clock are
  // not session activity (polling the panel must not keep an idle session alive).
  app.get('/demo/events', (req, res) => {
    res.set('Cache-Control', 'no-store').json({ now: manager.now(), events: events.recent() })
  })
  app.get('/demo/static/:name', (req, res) => {
    const type = ASSETS[req.params.name]
    if (!type) return res.status(404).type('text/plain').send('not found\n')
    res.set('Cache-Control', 'no-store').type(type)
      .send(fs.readFileSync(path.join(config.assets, req.params.name)))
  })
  app.post('/__advance', express.json(), (req, res) => {
    if (!clock) return res.status(404).type('text/plain').send('not found\n')
    clock.advance(Number(req.body?.ms) || 0)
    res.json({ ok: true })
  })

  app.use((req, res, next) => {
    // req.secure follows req.protocol; the session config's origin is req.protocol + req.host.
    if (LOOPBACK.has(req.socket.remoteAddress)) Object.defineProperty(req, 'protocol', { value: 'https' })
    next()
  })
  // Before the body parser: it answers the two DBSC endpoints itself (dbsc is on in the options).
  app.use(expressSession({ manager }))
  app.use(express.urlencoded({ extended: false }))

  // Before the CSRF check: a form posted from a page whose session has ended since gets the
  // explanation, not a CSRF error. Nothing of the token is kept: its public id (a one-way
  // hash) is looked up in the audit log, then forgotten.
  app.use((req, res, next) => {
    if (req.path === '/signed-out') return next()
    if (req.method === 'POST' && req.path === '/login') return next() // a sign-in replaces any cookie
    const cookie = manager.readCookie(req.headers.cookie)
    if (cookie.state === 'absent' || req.tessera.expiresAt !== null) return next()
    const id = cookie.state === 'one' ? manager.idOf(cookie.token) : null
    // A device-bound session this request did not prove: nothing ended, the owner goes on.
    const [why, site] = req.tessera.reason === 'binding_missing'
      ? ['binding_missing', '']
      : id ? events.explain(id) : ['malformed', '']
    res.redirect(302, `/signed-out?${new URLSearchParams({ why, site })}`)
  })
  app.use(csrfProtection())

  const accounts = Object.fromEntries(Object.keys(pages.USERS).map((name) => [name, { name, admin: name === 'admin' }]))
  const timeouts = { idle: config.options.idle_timeout_ms, absolute: config.options.absolute_timeout_ms }

  app.use((req, res, next) => {
    const user = req.tessera.user
    req.me = user && accounts[user] ? accounts[user] : null
    // A signed-in page must not come back from a cache (the back button after sign-out).
    if (req.me) res.set('Cache-Control', 'no-store')
    next()
  })
  const ctx = (req) => ({ config, me: req.me, csrf: () => req.csrfToken() })
  const send = (res, html, status = 200) => res.status(status).type('html').send(html)
  const signedIn = (req, res, next) => (req.me ? next() : res.redirect(302, '/'))
  const adminOnly = (req, res, next) => {
    if (req.me.admin) return next()
    send(res, pages.error(ctx(req), 403, 'Forbidden', 'Only the administrator can see this page.'), 403)
  }

  app.get(['/', '/login'], (req, res) => send(res, pages.start(ctx(req))))

  app.post('/login', (req, res) => {
    const name = String(req.body.user ?? '')
    if (!Object.hasOwn(pages.USERS, name) || !samePassword(req.body.password ?? '', pages.USERS[name])) {
      return send(res, pages.start(ctx(req), 'Wrong user or password.'), 401)
    }
    // One factor, a password: level 1 (the demo's requireRecent asks for level 1). Over HTTPS
    // (loopback here, see LOOPBACK) the response also offers a device binding.
    req.tessera.login(name, { level: 1, amr: ['pwd'] })
    res.redirect(302, '/account')
  })

  app.get('/account', signedIn, (req, res) => {
    const sessions = manager.listUserSync(req.me.name)
    const currentId = req.sessionID
    const now = manager.now()
    const clocks = { idle: null, absolute: null, rotation: null, rotated: null }
    const current = sessions.find((i) => i.id === currentId)
    if (current) {
      clocks.idle = current.expiresAt - now
      clocks.absolute = current.absoluteDeadline - now
      const rotatedAt = events.rotatedAt(currentId)
      const interval = config.options.rotation_interval_ms
      if (rotatedAt !== null) {
        clocks.rotated = `${pages.duration(now - rotatedAt)} ago`
        if (interval !== null && interval !== undefined) clocks.rotation = rotatedAt + interval - now
      }
    }
    const authenticated = req.tessera.authenticated
    const security = {
      binding: req.tessera.binding ?? 'unbound',
      authAgeMs: authenticated ? now - authenticated.at : null,
      level: authenticated ? authenticated.level : 0,
      amr: authenticated ? authenticated.amr : [],
      recent: pages.duration(config.recent_ms)
    }
    send(res, pages.account(ctx(req), { sessions, currentId, clocks, now, security }))
  })

  // Step-up: a sign-in older than recent_ms goes to /reauth?next=…, an anonymous one to /.
  const recent = requireRecent({ maxAgeMs: config.recent_ms, minLevel: 1, reauthUrl: '/reauth', loginUrl: '/' })
  app.get('/change-password', recent, signedIn, (req, res) => {
    send(res, pages.changePassword(ctx(req), false, pages.duration(config.recent_ms)))
  })
  app.post('/change-password', recent, signedIn, (req, res) => {
    // The demo has no real passwords: it only says so (a real app stores the new hash).
    console.log(`${req.me.name} changed the password (demo: nothing stored)`)
    send(res, pages.changePassword(ctx(req), true, pages.duration(config.recent_ms)))
  })
  app.get('/reauth', signedIn, (req, res) => {
    send(res, pages.reauth(ctx(req), safeNext(req.query.next), null))
  })
  app.post('/reauth', signedIn, async (req, res, next) => {
    const target = safeNext(req.body.next)
    if (!samePassword(req.body.password ?? '', pages.USERS[req.me.name])) {
      return send(res, pages.reauth(ctx(req), target, 'Wrong password.'), 401)
    }
    try {
      // A new token (the old one dead at once), authenticated as of now; binding kept.
      await req.session.reauthenticate({ level: 1, amr: ['pwd'] })
    } catch (err) {
      return next(err)
    }
    res.redirect(302, target)
  })

  app.post('/sessions/:id/end', signedIn, async (req, res, next) => {
    const id = req.params.id
    if (!manager.listUserSync(req.me.name).some((i) => i.id === id)) {
      return send(res, pages.error(ctx(req), 404, 'Not Found', 'No such session of yours.'), 404)
    }
    if (id === req.sessionID) return signOut(req, res, next)
    events.cause('device', () => manager.revokeSync(id))
    res.redirect(302, '/account')
  })

  async function signOut (req, res, next) {
    try {
      await req.tessera.logout()
    } catch (err) {
      return next(err)
    }
    res.redirect(302, '/')
  }
  app.post('/logout', signOut)

  app.post('/logout-others', signedIn, (req, res) => {
    events.cause('device', () => {
      for (const i of manager.listUserSync(req.me.name)) if (i.id !== req.sessionID) manager.revokeSync(i.id)
    })
    res.redirect(302, '/account')
  })

  app.get('/logout-everywhere', signedIn, (req, res) => {
    const count = manager.listUserSync(req.me.name).length
    send(res, pages.confirm(ctx(req), `Sign out all ${count} session(s) of ${req.me.name}, on every device and site?`,
      '/logout-everywhere', 'Yes, sign out everywhere'))
  })
  app.post('/logout-everywhere', signedIn, (req, res, next) => {
    events.cause('everywhere', () => manager.revokeUserSync(req.me.name))
    signOut(req, res, next)
  })

  app.get('/admin', signedIn, adminOnly, (req, res) => {
    const counts = Object.fromEntries(Object.keys(accounts).map((name) => [name, manager.listUserSync(name).length]))
    send(res, pages.admin(ctx(req), counts))
  })
  app.get('/admin/users/:name/end', signedIn, adminOnly, (req, res) => {
    const name = req.params.name
    if (!Object.hasOwn(accounts, name)) return send(res, pages.error(ctx(req), 404, 'Not Found', 'No such user.'), 404)
    const count = manager.listUserSync(name).length
    send(res, pages.confirm(ctx(req), `End all ${count} session(s) of ${name}? They are signed out everywhere.`,
      `/admin/users/${name}/end`, `Yes, end ${name}'s sessions`))
  })
  app.post('/admin/users/:name/end', signedIn, adminOnly, (req, res, next) => {
    const name = req.params.name
    events.cause('admin', () => manager.revokeUserSync(name))
    if (name === req.me.name) return signOut(req, res, next)
    res.redirect(302, '/admin')
  })

  app.get('/signed-out', (req, res) => {
    send(res, pages.signedOut(ctx(req), String(req.query.why ?? 'unknown'), String(req.query.site ?? ''), timeouts))
  })

  app.use((req, res) => send(res, pages.error(ctx(req), 404, 'Not Found', 'There is no such page.'), 404))
  return app
}

module.exports = { createApp }
