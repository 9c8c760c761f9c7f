'use strict'
// Security requirements of docs/security.md that the other Node tests did not yet prove, against
// a real Express server on 127.0.0.1:
// - expressSession() reads the token from the Cookie header only: never from the URL, the body
//   or another header (ASVS 4.0.3 V3.1.1, WSTG-SESS-04);
// - error responses never show the token (the "never in URLs, error messages or logs").
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const express = require('express')
const { SessionManager, expressSession, csrfProtection } = require('..')

const COOKIE = 'sid'

async function serve (app) {
  const server = http.createServer(app)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) })
  }
}

describe('the session token travels in the Cookie header only', () => {
  let server, token

  before(async () => {
    const manager = new SessionManager({ cookieName: COOKIE, cookieSecure: false, sweepIntervalMs: null })
    const app = express()
    app.use(express.urlencoded({ extended: false }))
    app.use(express.json())
    app.use(expressSession({ manager }))
    app.post('/login', (req, res) => {
      req.tessera.login('alice')
      res.json({ ok: true })
    })
    app.all('/whoami', (req, res) => res.json({ user: req.tessera.user ?? null }))
    app.use(csrfProtection())
    app.post('/transfer', (req, res) => res.json({ ok: true }))
    app.use((err, req, res, next) => res.status(500).send(`error: ${err.message}`))
    server = await serve(app)
    const r = await fetch(server.url + '/login', { method: 'POST' })
    const cookie = r.headers.getSetCookie().find((c) => c.startsWith(COOKIE + '='))
    token = cookie.split(';')[0].slice(COOKIE.length + 1)
    assert.equal(token.length, 43)
  })
  after(() => server.close())

  async function whoami (path, init = {}) {
    const r = await fetch(server.url + path, { redirect: 'manual', ...init })
    const text = await r.text()
    return { r, text }
  }

  it('the cookie itself works', async () => {
    const { text } = await whoami('/whoami', { headers: { cookie: `${COOKIE}=${token}` } })
    assert.deepEqual(JSON.parse(text), { user: 'alice' })
  })

  it('a token in the URL, the body or another header is ignored', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const attempts = [
      ['/whoami?' + new URLSearchParams({ [COOKIE]: token, session: token, sessionid: token })],
      [`/whoami;${COOKIE}=${token}`],
      ['/whoami', { method: 'POST', headers: form, body: new URLSearchParams({ [COOKIE]: token }).toString() }],
      ['/whoami', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ [COOKIE]: token }) }],
      ['/whoami', { headers: { authorization: `Bearer ${token}` } }],
      ['/whoami', { headers: { 'x-session-token': token, 'x-cookie': `${COOKIE}=${token}` } }],
      ['/whoami', { headers: { referer: `http://127.0.0.1/?${COOKIE}=${token}` } }]
    ]
    for (const [path, init] of attempts) {
      const { r, text } = await whoami(path, init)
      if (r.status === 404) continue // a path parameter is not even routed
      assert.deepEqual(JSON.parse(text), { user: null }, path)
      assert.ok(!r.headers.getSetCookie().some((c) => c.includes(token)))
    }
  })

  it('error responses never show the token', async () => {
    const cookie = `${COOKIE}=${token}`
    const responses = [
      await whoami('/transfer', { method: 'POST', headers: { cookie } }), // no CSRF token: 403
      await whoami('/transfer', { method: 'POST', headers: { cookie, 'x-csrf-token': token } }), // the session token as one
      await whoami(`/nowhere/${token}`, { headers: { cookie } }), // 404 with the token in the path
      await whoami('/whoami', { headers: { cookie: `${cookie}; ${COOKIE}=planted` } }) // cookie tossing
    ]
    assert.deepEqual(responses.map(({ r }) => r.status), [403, 403, 404, 200])
    for (const { r, text } of responses.slice(0, 2)) {
      assert.ok(!text.includes(token), `status ${r.status} shows the token`)
      assert.ok(!r.headers.getSetCookie().some((c) => c.includes(token)))
    }
    // Express's own 404 page echoes the path it could not route: that one is the application's
    // to replace (docs/security.md); the session cookie itself is never in it.
    assert.ok(!responses[3].text.includes(token))
  })
})
