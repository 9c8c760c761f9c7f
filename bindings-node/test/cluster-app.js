'use strict'
// One worker of the multi-process tests (cluster.test.js, deployment.test.js), started by
// `cluster.fork()`: an Express app with expressSession() and Passport on the store named by
// TESSERA_STORE (default memory://) and the pepper in TESSERA_PEPPER, listening on 127.0.0.1
// with port 0 (the cluster primary gives every worker the same port). Every answer carries
// `process.pid`, so the test sees which worker served it. The worker tells the primary it
// listens ({ listening: port }) and relays each process warning ({ warning: { code, message } }).
const cluster = require('node:cluster')

// `node --test test/` also runs this file on its own: outside a worker it does nothing.
if (cluster.isWorker) main()

function main () {
  const express = require('express')
  const passport = require('passport')
  const { Strategy: LocalStrategy } = require('passport-local')
  const { expressSession, csrfProtection } = require('..')

  process.on('warning', (w) => {
    process.send({ warning: { code: w.code ?? null, name: w.name, message: w.message } })
  })

  const USERS = { alice: 'wonderland' }
  const p = new passport.Passport()
  p.use(new LocalStrategy((username, password, done) => {
    done(null, USERS[username] === password ? { id: username } : false)
  }))
  p.serializeUser((user, done) => done(null, user.id))
  p.deserializeUser((id, done) => done(null, USERS[id] ? { id } : false))

  const app = express()
  app.use(expressSession({
    store: process.env.TESSERA_STORE || 'memory://',
    pepper: process.env.TESSERA_PEPPER || null,
    cookieName: 'sid',
    cookieSecure: false
  }))
  app.use(express.urlencoded({ extended: false }))
  app.use(p.session())
  const pid = process.pid
  // A CSRF token for the next unsafe request: a visitor's (keyed from the pepper) or the session's.
  app.get('/csrf', (req, res) => res.json({ pid, csrf: req.csrfToken() }))
  app.get('/me', (req, res) => res.json({ pid, user: req.user ? req.user.id : null }))
  app.use(csrfProtection())
  app.post('/login', p.authenticate('local'), (req, res) => res.json({ pid, user: req.user.id }))
  // An explicit key cycle: a new token now, the old one dead; Passport's login copied back.
  app.post('/regenerate', (req, res, next) => {
    const kept = req.session.passport
    req.session.regenerate((err) => {
      if (err) return next(err)
      req.session.passport = kept
      res.json({ pid, user: req.user ? req.user.id : null })
    })
  })
  app.post('/logout', (req, res, next) => {
    req.logout((err) => (err ? next(err) : res.json({ pid, user: null })))
  })
  // A session on this worker alone (the memory-store warning tests): no CSRF needed for a GET.
  app.get('/remember', (req, res) => {
    req.session.note = 'kept'
    res.json({ pid })
  })

  const server = app.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }))
  process.on('message', (m) => {
    if (m === 'stop') server.close(() => process.exit(0))
    // A barrier: every warning of the requests answered so far was relayed before this reply
    // (a warning is emitted on the tick after its request's begin; IPC keeps the order).
    if (m === 'ping') process.send({ pong: true })
  })
}
