'use strict'
// One benchmarked Express app in a process of its own (so the load generator does not share
// its event loop): `node bench/server.js <kind>`, kind = none | tessera | express-session.
// Listens on 127.0.0.1 (an ephemeral port) and prints the port on stdout. GET / reads one
// session value; GET /init stores it (to get a session cookie); GET /form renders a sign-in
// form with a CSRF token (the visitor without a cookie of issue 13). Answered before any
// middleware: GET /__cpu gives the process's CPU time so far in µs, so the driver can charge
// CPU per request; GET /__count the forms served, the sessions created so far and the store's
// size, so it can count what the timed requests stored.
const http = require('node:http')
const crypto = require('node:crypto')
const express = require('express')

const kind = process.argv[2]
const counts = { forms: 0, created: 0, stored: () => null }

/** The session middleware of `kind` and the CSRF token its form gets. */
function setup () {
  if (kind === 'none') return [null, () => 'constant-not-a-token']
  if (kind === 'tessera') {
    const { SessionManager, expressSession } = require('..')
    const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, rotationIntervalMs: null })
    // Only transitions call the listener: a request that creates no session pays nothing for it.
    manager.onEvent((e) => { if (e.kind === 'created') counts.created++ })
    counts.stored = () => manager.storeLenSync()
    return [expressSession({ manager }), (req) => req.csrfToken()]
  }
  if (kind === 'express-session') {
    const session = require('express-session')
    const store = new session.MemoryStore()
    // MemoryStore keeps a session without maxAge until it is destroyed: its growth is the
    // number of sessions the requests created.
    counts.stored = () => Object.keys(store.sessions).length
    return [session({ secret: 'bench', resave: false, saveUninitialized: false, name: 'sid', store }), csurfToken]
  }
  throw new Error(`unknown app kind ${kind}`)
}

/**
 * What csurf does on express-session: a secret kept in the session (so the first form makes a
 * session), each token a random salt and a SHA-1 of salt and secret.
 */
function csurfToken (req) {
  if (req.session.csrfSecret === undefined) req.session.csrfSecret = crypto.randomBytes(18).toString('base64url')
  const salt = crypto.randomBytes(6).toString('base64url')
  return salt + '-' + crypto.createHash('sha1').update(salt + '-' + req.session.csrfSecret).digest('base64url')
}

const form = (token) => '<!doctype html><title>Sign in</title><form method="post" action="/login">' +
  `<input type="hidden" name="_csrf" value="${token}">` +
  '<label>User <input name="user"></label><label>Password <input name="password" type="password"></label>' +
  '<button>Sign in</button></form>'

const app = express()
app.get('/__cpu', (req, res) => {
  const u = process.cpuUsage()
  res.json({ us: u.user + u.system })
})
app.get('/__count', (req, res) => res.json({ forms: counts.forms, created: counts.created, stored: counts.stored() }))
const [mw, csrfToken] = setup()
if (mw) app.use(mw)
app.get('/', (req, res) => {
  const n = req.session ? req.session.n : 0
  res.send(`hello ${n ?? 0}`)
})
app.get('/init', (req, res) => {
  req.session.n = 1
  res.send('ok')
})
app.get('/form', (req, res) => {
  // Counted here: autocannon leaves out the requests still in flight when a round ends.
  counts.forms++
  res.send(form(csrfToken(req)))
})
const server = http.createServer(app)
// The port, and the build of the addon this process loaded (the driver refuses debug builds).
const profile = require('../lib/native.js').__buildProfile()
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port} ${profile}\n`))
process.on('SIGTERM', () => process.exit(0))
