'use strict'
// The middleware's per-request path: the native free functions (__requestSync, __request,
// __saveSync, __save) and their compact result, taken apart by lib/fast.js; req.session's lazy
// data (a Proxy that parses the JSON text on first use); saves as one atomic patch.
const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const express = require('express')
const native = require('../lib/native.js')
const { SessionManager, ManualClock, expressSession } = require('..')
const { bind, decode } = require('../lib/fast.js')
const { Session } = require('../lib/express.js')
const { serve, Client } = require('./helpers.js')

const plain = (more) => new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, ...more })

describe('the compact per-request result', () => {
  it('no cookie, a dead cookie, two cookies', () => {
    const m = plain()
    const f = bind(m)
    assert.deepEqual({ ...f.requestSync(undefined, false) }, { ...decode('A') })
    assert.equal(f.requestSync(undefined, false).valid, false)
    assert.equal(f.requestSync(undefined, false).reason, undefined)
    assert.equal(f.requestSync('a=1; b=2', false).reason, undefined)
    assert.equal(f.requestSync('sid=nope', false).reason, 'malformed')
    assert.equal(f.requestSync('sid=' + 'A'.repeat(43), false).reason, 'unknown')
    const s = m.createSync()
    assert.equal(f.requestSync(`sid=${s.newToken}; sid=${s.newToken}`, false).reason, 'malformed')
  })

  it('a live session: token, id, user, data, expiry, agree with validateSync', () => {
    const clock = new ManualClock()
    const m = plain({ clock })
    const f = bind(m)
    const s = m.createSync('alice', { n: 1, nested: { a: [1, 'two', null] } })
    const r = f.requestSync(`x=1; sid=${s.newToken}; y=2`, false)
    const v = m.validateSync(s.newToken)
    assert.equal(r.valid, true)
    assert.equal(r.token, s.newToken)
    assert.equal(r.id, s.id)
    assert.equal(r.user, 'alice')
    assert.equal(r.expiresAt, v.expiresAt)
    assert.deepEqual(JSON.parse(r.dataJson), v.data)
    assert.equal(r.setCookie, null)
    assert.equal(r.csrfValid, undefined)
    assert.equal(r.csrfToken, null)
  })

  it('users and data with newlines and characters beyond ASCII survive the format', () => {
    const m = plain()
    const f = bind(m)
    for (const user of ['a\nb', 'zoë', '用户\n\n名', '😀\n😀', '-', '5\n']) {
      const data = { text: 'line\nbreak', emoji: '😀', nul: '\u0000', 'key\nwith newline': 'é' }
      const s = m.createSync(user, data)
      const r = f.requestSync(`sid=${s.newToken}`, false)
      assert.equal(r.user, user)
      assert.equal(r.id, s.id)
      assert.deepEqual(JSON.parse(r.dataJson), data)
    }
    const anon = m.createSync()
    const r = f.requestSync(`sid=${anon.newToken}`, false)
    assert.equal(r.user, null)
    assert.equal(r.dataJson, '')
  })

  it('CSRF verdicts, a minted CSRF token, and a rotated token with its cookie', async () => {
    const clock = new ManualClock()
    const m = plain({ clock, rotationIntervalMs: 60000 })
    const f = bind(m)
    const s = m.createSync()
    const csrf = m.csrfTokenSync(s.newToken)
    assert.equal(f.requestSync(`sid=${s.newToken}`, false, csrf).csrfValid, true)
    assert.equal(f.requestSync(`sid=${s.newToken}`, false, 'x'.repeat(86)).csrfValid, false)
    const minted = await f.request(`sid=${s.newToken}`, false, undefined, true)
    assert.equal(m.verifyCsrfSync(s.newToken, minted.csrfToken), true)
    clock.advance(60000)
    const rotated = f.requestSync(`sid=${s.newToken}`, false)
    assert.notEqual(rotated.token, s.newToken)
    assert.equal(rotated.setCookie, `sid=${rotated.token}; Path=/; HttpOnly; SameSite=Lax`)
    assert.equal(m.validateSync(rotated.token).id, rotated.id)
  })

  it('the Promise form agrees with the synchronous one', async () => {
    const m = plain({ clock: new ManualClock() })
    const f = bind(m)
    const s = m.createSync('bob', { k: 'v' })
    assert.deepEqual({ ...await f.request(`sid=${s.newToken}`, false, undefined, false) }, { ...f.requestSync(`sid=${s.newToken}`, false) })
    // Over HTTPS a session that has used HTTP gets a new token at once, in either form.
    const up = await f.request(`sid=${s.newToken}`, true, undefined, false)
    assert.notEqual(up.token, s.newToken)
    assert.equal(f.requestSync(`sid=${s.newToken}`, true).reason, 'unknown', 'no grace after an upgrade')
  })

  it('bad arguments throw TypeError / RangeError, never abort', async () => {
    const m = plain()
    const h = m.__handle()
    for (const bad of [5, {}, [], () => 1, Symbol('s'), 1n, true]) {
      assert.throws(() => native.__requestSync(h, bad, false, undefined), TypeError)
      assert.throws(() => native.__requestSync(h, 'sid=1', bad === true ? 'yes' : bad, undefined), TypeError)
      assert.throws(() => native.__requestSync(h, 'sid=1', false, bad), TypeError)
      assert.throws(() => native.__request(h, bad, false, undefined, false), TypeError)
      assert.throws(() => native.__saveSync(h, bad, null, null), TypeError)
    }
    assert.throws(() => native.__requestSync(h, 'sid=' + 'a'.repeat(100000), false, undefined), RangeError)
    for (const notHandle of [undefined, null, 5, 'x', {}, m, new ManualClock()]) {
      assert.throws(() => native.__requestSync(notHandle, 'sid=1', false, undefined))
      assert.throws(() => native.__saveSync(notHandle, 'a'.repeat(64), null, null))
    }
    const s = m.createSync()
    assert.throws(() => native.__saveSync(h, s.id, '[1]', null), TypeError)
    assert.throws(() => native.__saveSync(h, s.id, 'not json', null), TypeError)
    assert.throws(() => native.__saveSync(h, s.id, null, 'k'), TypeError)
    assert.throws(() => native.__saveSync(h, 'zz', null, null), { code: 'invalid_argument' })
    await assert.rejects(native.__save(h, 'f'.repeat(64), '{"a":1}', null), { code: 'unknown' })
    assert.ok(['debug', 'release'].includes(native.__buildProfile()))
  })
})

describe('saving changed keys as one atomic patch', () => {
  it('__saveSync sets and removes in one call; a session that ended is not re-created', () => {
    const m = plain()
    const s = m.createSync(null, { a: 1, b: 2 })
    const h = m.__handle()
    native.__saveSync(h, s.id, '{"c":{"d":[1]},"a":5}', ['b'])
    assert.deepEqual(m.validateSync(s.newToken).data, { a: 5, c: { d: [1] } })
    m.logoutSync(s.newToken)
    assert.throws(() => native.__saveSync(h, s.id, '{"x":1}', null), { code: 'unknown' })
  })
})

describe('req.session loads its data on first use', () => {
  function appWith (manager, route) {
    const app = express()
    app.use(expressSession({ manager }))
    app.use(express.json())
    app.all('/', route)
    return serve(app)
  }

  it('a request that never reads req.session parses nothing and writes nothing', async () => {
    const m = plain()
    const s = m.createSync(null, { marker: 'untouched-data' })
    let parsed = 0
    const parse = JSON.parse
    const srv = await appWith(m, (req, res) => res.send('ok'))
    JSON.parse = function (text, ...rest) {
      if (typeof text === 'string' && text.includes('untouched-data')) parsed++
      return parse.call(this, text, ...rest)
    }
    try {
      const r = await new Client(srv.url).get('/', { headers: { cookie: `sid=${s.newToken}` } })
      assert.equal(r.status, 200)
      assert.equal(r.setCookies.length, 0)
    } finally {
      JSON.parse = parse
      await srv.close()
    }
    assert.equal(parsed, 0, 'the data was never parsed')
  })

  it('a session only read, whose values are all primitives, is not serialized to look for changes', async () => {
    const m = plain()
    const flat = m.createSync(null, { flatMarker: 1 })
    const nested = m.createSync(null, { nestedMarker: { a: 1 } })
    let serialized = 0
    const stringify = JSON.stringify
    const srv = await appWith(m, (req, res) => res.send(String(req.session.flatMarker ?? req.session.nestedMarker.a)))
    JSON.stringify = function (value, ...rest) {
      if (value && typeof value === 'object' && ('flatMarker' in value || 'nestedMarker' in value)) serialized++
      return stringify.call(this, value, ...rest)
    }
    try {
      const c = new Client(srv.url)
      assert.equal((await c.get('/', { headers: { cookie: `sid=${flat.newToken}` } })).text, '1')
      assert.equal(serialized, 0, 'flat and untouched: no comparison')
      assert.equal((await c.get('/', { headers: { cookie: `sid=${nested.newToken}` } })).text, '1')
      assert.equal(serialized, 1, 'an object value may have changed in place: compared')
    } finally {
      JSON.stringify = stringify
      await srv.close()
    }
  })

  it('behaves like a plain object: keys, spread, in, delete, nested changes, JSON, inspect', async () => {
    const m = plain()
    const s = m.createSync(null, { a: 1, cart: [1, 2], gone: true })
    let seen
    const srv = await appWith(m, (req, res) => {
      const sess = req.session
      seen = {
        keys: Object.keys(sess),
        spread: structuredClone({ ...sess }),
        json: JSON.parse(JSON.stringify(sess)),
        has: ['a' in sess, 'nope' in sess, 'save' in sess],
        symbols: Object.getOwnPropertySymbols(sess).length,
        descriptor: Object.getOwnPropertyDescriptor(sess, 'a'),
        proto: sess instanceof Session,
        inspect: util.inspect(sess),
        id: sess.id
      }
      sess.cart.push(3)
      delete sess.gone
      sess.added = { x: 'y' }
      res.send('ok')
    })
    try {
      await new Client(srv.url).post('/', { headers: { cookie: `sid=${s.newToken}` } })
    } finally {
      await srv.close()
    }
    assert.deepEqual(seen.keys, ['a', 'cart', 'gone'])
    assert.deepEqual(seen.spread, { a: 1, cart: [1, 2], gone: true })
    assert.deepEqual(seen.json, { a: 1, cart: [1, 2], gone: true })
    assert.deepEqual(seen.has, [true, false, true])
    assert.equal(seen.symbols, 0, 'internals stay hidden')
    assert.deepEqual(seen.descriptor, { value: 1, writable: true, enumerable: true, configurable: true })
    assert.equal(seen.proto, true)
    assert.equal(seen.inspect, "Session { a: 1, cart: [ 1, 2 ], gone: true }")
    assert.equal(seen.id, s.id)
    assert.deepEqual(m.validateSync(s.newToken).data, { a: 1, cart: [1, 2, 3], added: { x: 'y' } })
  })

  it('reserved names are never data; __proto__ in stored data cannot reach the prototype', async () => {
    const m = plain()
    const s = m.createSync(null, JSON.parse('{"__proto__": {"polluted": true}, "id": "fake", "ok": 1}'))
    let seen
    const srv = await appWith(m, (req, res) => {
      seen = { polluted: req.session.polluted, id: req.session.id, ok: req.session.ok, save: typeof req.session.save }
      res.send('ok')
    })
    try {
      await new Client(srv.url).get('/', { headers: { cookie: `sid=${s.newToken}` } })
    } finally {
      await srv.close()
    }
    assert.deepEqual(seen, { polluted: undefined, id: s.id, ok: 1, save: 'function' })
  })
})

describe('the middleware adds no properties to req and res', () => {
  it('req.session, sessionID, csrfToken, tessera and the hooks live on Express\'s shared prototypes', async () => {
    const m = plain()
    const app = express()
    let before
    app.use((req, res, next) => {
      before = { req: Reflect.ownKeys(req), res: Reflect.ownKeys(res) }
      next()
    })
    app.use(expressSession({ manager: m }))
    let added
    app.use((req, res, next) => {
      added = {
        req: Reflect.ownKeys(req).filter((k) => !before.req.includes(k)).map(String),
        res: Reflect.ownKeys(res).filter((k) => !before.res.includes(k)).map(String)
      }
      next()
    })
    let seen
    app.get('/', (req, res) => {
      req.session.n = (req.session.n ?? 0) + 1
      seen = {
        ownReq: added.req,
        ownRes: added.res,
        csrf: typeof req.csrfToken(),
        tessera: typeof req.tessera.login
      }
      res.json({ n: req.session.n })
    })
    const srv = await serve(app)
    try {
      const c = new Client(srv.url)
      await c.get('/')
      assert.equal((await c.get('/')).json().n, 2)
      assert.deepEqual(seen, { ownReq: [], ownRes: [], csrf: 'string', tessera: 'function' })
    } finally {
      await srv.close()
    }
  })

  it('a mounted sub-app (its own request prototype) sees the session too', async () => {
    const m = plain()
    const sub = express()
    sub.get('/n', (req, res) => {
      req.session.n = (req.session.n ?? 0) + 1
      res.json({ n: req.session.n, id: req.sessionID })
    })
    const app = express()
    app.use(expressSession({ manager: m }))
    app.use('/sub', sub)
    app.get('/n', (req, res) => res.json({ n: req.session.n ?? null }))
    const srv = await serve(app)
    try {
      const c = new Client(srv.url)
      assert.equal((await c.get('/sub/n')).json().n, 1)
      const second = (await c.get('/sub/n')).json()
      assert.equal(second.n, 2)
      assert.match(second.id, /^[0-9a-f]{64}$/)
      assert.equal((await c.get('/n')).json().n, 2)
    } finally {
      await srv.close()
    }
  })

  it('requests Tessera did not handle keep plain properties (an express-session app in the same process)', async () => {
    const session = require('express-session')
    const app = express()
    app.use(session({ secret: 's', resave: false, saveUninitialized: false, name: 'other' }))
    app.get('/', (req, res) => {
      req.session.k = (req.session.k ?? 0) + 1
      res.json({ k: req.session.k, own: Object.prototype.hasOwnProperty.call(req, 'session'), csrf: typeof req.csrfToken })
    })
    const srv = await serve(app)
    try {
      const c = new Client(srv.url)
      assert.equal((await c.get('/')).json().k, 1)
      const r = (await c.get('/')).json()
      assert.equal(r.k, 2)
      assert.equal(r.own, true)
    } finally {
      await srv.close()
    }
  })

  it('first request of a process: a middleware that wrapped writeHead before the hooks existed, and a bare http server', async () => {
    const { execFileSync } = require('node:child_process')
    const script = `
      const http = require('node:http')
      const express = require('express')
      const { SessionManager, expressSession } = require(${JSON.stringify(require.resolve('..'))})
      const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
      const app = express()
      app.use((req, res, next) => {
        const writeHead = res.writeHead
        res.writeHead = function (...args) { res.setHeader('x-wrapped', '1'); return writeHead.apply(this, args) }
        next()
      })
      app.use(expressSession({ manager }))
      app.get('/', (req, res) => { req.session.n = 1; res.end('ok') })
      const mw = expressSession({ manager })
      const bare = http.createServer((req, res) => mw(req, res, () => { req.session.m = 2; res.end('bare') }))
      ;(async () => {
        const out = {}
        for (const [name, srv] of [['express', http.createServer(app)], ['bare', bare]]) {
          await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
          const r = await fetch('http://127.0.0.1:' + srv.address().port + '/')
          const cookie = r.headers.getSetCookie()[0]
          const token = cookie && cookie.split(';')[0].slice(4)
          out[name] = { cookie: Boolean(cookie), wrapped: r.headers.get('x-wrapped'), data: token ? manager.validateSync(token).data : null }
          srv.close()
        }
        process.stdout.write(JSON.stringify(out))
      })()
    `
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: __dirname, encoding: 'utf8' }))
    assert.deepEqual(out, {
      express: { cookie: true, wrapped: '1', data: { n: 1 } },
      bare: { cookie: true, wrapped: null, data: { m: 2 } }
    })
  })
})
