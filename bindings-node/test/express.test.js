'use strict'
// expressSession() and csrfProtection() against real Express servers on 127.0.0.1, over HTTP.
// Every flow (express-flows.js) runs twice: with synchronous calls (the in-process default) and
// with the Promise calls a networked store uses (`sync: false`); redis.test.js runs them on Redis.
const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const express = require('express')
const { SessionManager, expressSession } = require('..')
const { serve, Client } = require('./helpers.js')
const { defineFlows } = require('./express-flows.js')

defineFlows('expressSession (synchronous calls)', { sync: true })
defineFlows('expressSession (Promise calls)', { sync: false })

describe('expressSession options', () => {
  it('defaults stay secure: __Host- cookie name needs Secure', () => {
    assert.throws(() => expressSession({ cookieSecure: false }), { code: 'invalid_config' })
    assert.throws(() => expressSession({ manager: {} }), TypeError)
    assert.throws(() => expressSession({ userId: 5 }), TypeError)
    assert.throws(() => expressSession('x'), TypeError)
  })

  it('a full store answers 503 to a new anonymous session and signs nobody out', async () => {
    const manager = new SessionManager({
      cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, maxSessions: 1
    })
    const events = []
    manager.onEvent((e) => { if (e.kind === 'evicted') events.push(e) })
    const app = express()
    app.use(expressSession({ manager }))
    app.get('/login', (req, res) => { req.tessera.login('alice'); res.send('in') })
    app.get('/visit', (req, res) => { req.session.visits = 1; res.send('ok') })
    app.get('/me', (req, res) => res.send(req.tessera.user ?? 'nobody'))
    const srv = await serve(app)
    try {
      const visitor = new Client(srv.url)
      assert.equal((await visitor.get('/visit')).status, 200)
      const alice = new Client(srv.url)
      assert.equal((await alice.get('/login')).status, 200)
      // The sign-in made room by evicting the anonymous visitor's session.
      assert.equal(events.length, 1)
      const bot = new Client(srv.url)
      const refused = await bot.get('/visit')
      assert.equal(refused.status, 503)
      assert.equal((await alice.get('/me')).text, 'alice')
    } finally {
      await srv.close()
    }
  })

  it('a store that fails closes the request: errors reach next(err)', async () => {
    const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
    const app = express()
    app.use(expressSession({ manager }))
    app.get('/', (req, res) => res.send('ok'))
    const srv = await serve(app)
    try {
      // A header over 64 KiB cannot be parsed by Node's HTTP server anyway; a huge cookie is refused.
      const r = await new Client(srv.url).get('/', { headers: { cookie: 'sid=' + 'a'.repeat(10000) } })
      assert.equal(r.status, 200)
    } finally {
      await srv.close()
    }
  })
})
