'use strict'
// One benchmarked Express app in a process of its own (so the load generator does not share
// its event loop): `node bench/server.js <kind>`, kind = none | tessera | express-session.
// Listens on 127.0.0.1 (an ephemeral port) and prints the port on stdout. GET / reads one
// session value; GET /init stores it (to get a session cookie); GET /__cpu (answered before any
// middleware) gives the process's CPU time so far in µs, so the driver can charge CPU per request.
const http = require('node:http')
const express = require('express')

function middleware (kind) {
  if (kind === 'none') return null
  if (kind === 'tessera') {
    const { expressSession } = require('..')
    return expressSession({ cookieName: 'sid', cookieSecure: false, rotationIntervalMs: null })
  }
  if (kind === 'express-session') {
    const session = require('express-session')
    return session({ secret: 'bench', resave: false, saveUninitialized: false, name: 'sid', store: new session.MemoryStore() })
  }
  throw new Error(`unknown app kind ${kind}`)
}

const app = express()
app.get('/__cpu', (req, res) => {
  const u = process.cpuUsage()
  res.json({ us: u.user + u.system })
})
const mw = middleware(process.argv[2])
if (mw) app.use(mw)
app.get('/', (req, res) => {
  const n = req.session ? req.session.n : 0
  res.send(`hello ${n ?? 0}`)
})
app.get('/init', (req, res) => {
  req.session.n = 1
  res.send('ok')
})
const server = http.createServer(app)
// The port, and the build of the addon this process loaded (the driver refuses debug builds).
const profile = require('../lib/native.js').__buildProfile()
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port} ${profile}\n`))
process.on('SIGTERM', () => process.exit(0))
