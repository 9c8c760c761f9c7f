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
