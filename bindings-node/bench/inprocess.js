'use strict'
// `node bench/inprocess.js <none|noop|tessera>`: whole Express requests in this process, without
// the network — a real IncomingMessage and ServerResponse on a stub socket — through an app with
// no session middleware, with a middleware that does nothing but call next() (what Express itself
// charges for one more middleware: the floor under any session middleware's cost), or with
// expressSession(), the route reading one session value. `form-none|form-headers|form-tessera`:
// cookieless requests for a sign-in form — a constant in its CSRF field, the same plus the two
// headers Tessera gives a visitor (set by the route: what Express charges for them), or
// req.csrfToken() under expressSession(). Prints the
// best ns per request of a few rounds. run.js starts it once per app and round, so the two apps
// never share a process (or its inline caches), as in a real deployment.
const { IncomingMessage, ServerResponse } = require('node:http')
const { Duplex } = require('node:stream')
const express = require('express')
const { SessionManager, expressSession } = require('..')

if (require('../lib/native.js').__buildProfile() !== 'release' && process.env.BENCH_ALLOW_DEBUG !== '1') {
  throw new Error('bench/inprocess.js loaded a debug build of tessera.node')
}

const kind = process.argv[2]
const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, rotationIntervalMs: null })
const formKind = kind.startsWith('form-') ? kind.slice(5) : null
const cookie = formKind === null ? `sid=${manager.createSync('alice', { n: 1, theme: 'dark' }).newToken}` : undefined
const url = formKind === null ? '/' : '/form'
// A visitor cookie as long as Tessera's, for the headers-only form.
const VISITOR = 'sid-csrf=' + 'A'.repeat(43) + '; Path=/; HttpOnly; SameSite=Lax'
const app = express()
if (kind === 'tessera' || formKind === 'tessera') app.use(expressSession({ manager }))
else if (kind === 'noop') app.use((req, res, next) => next())
else if (kind !== 'none' && formKind !== 'none' && formKind !== 'headers') throw new Error(`unknown app kind ${kind}`)
app.get('/', (req, res) => res.send(`hello ${req.session ? req.session.n : 0}`))
app.get('/form', (req, res) => {
  let token = 'constant-not-a-token'
  if (formKind === 'tessera') token = req.csrfToken()
  else if (formKind === 'headers') {
    res.setHeader('Set-Cookie', VISITOR)
    res.setHeader('Cache-Control', 'no-store')
  }
  res.send('<!doctype html><title>Sign in</title><form method="post" action="/login">' +
    `<input type="hidden" name="_csrf" value="${token}">` +
    '<label>User <input name="user"></label><label>Password <input name="password" type="password"></label>' +
    '<button>Sign in</button></form>')
})
const socket = new Duplex({ read () {}, write (chunk, encoding, cb) { cb() } })
socket.remoteAddress = '127.0.0.1'

function request () {
  const req = new IncomingMessage(socket)
  req.method = 'GET'
  req.url = url
  req.headers = cookie === undefined ? { host: 'bench' } : { host: 'bench', cookie }
  req.complete = true
  const res = new ServerResponse(req)
  res.assignSocket(socket)
  app(req, res)
  if (!res.writableEnded) throw new Error('bench: the in-process request did not finish')
  res.detachSocket(socket)
}

// The socket's write callbacks (and with them each response, its request and whatever hangs
// off them) are released on the next tick: a loop that never yields keeps every request of a
// round alive, into the old generation (hundreds of MB, scavenges of 10-20 ms), and charges
// each app for the garbage collection of what it keeps per request. A server yields between
// requests; this yields every BATCH, and the time includes those ticks.
const BATCH = 10
const tick = () => new Promise(setImmediate)

async function requests (n) {
  for (let i = 0; i < n; i += BATCH) {
    for (let j = 0; j < BATCH; j++) request()
    await tick()
  }
}

async function main () {
  const N = Number(process.env.BENCH_INPROCESS_N || 10000)
  await requests(N) // warm-up
  let best = Infinity
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint()
    await requests(N)
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / N)
  }
  process.stdout.write(`${best}\n`)
}

main()
