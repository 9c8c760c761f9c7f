'use strict'
// The per-request path: the native free functions over the core's protocol (begin, step,
// prepare, finish of __requestCalls() and their Promise forms) and their compact results, taken apart by
// lib/request.js; req.session's lazy data (a Proxy that parses the JSON text on first use); and
// the middleware's promise to add no properties to req and res.
const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const express = require('express')
const { SessionManager, ManualClock, expressSession } = require('..')
const calls = require('../lib/request.js')
const { Session } = require('../lib/express.js')
const { serve, Client } = require('./helpers.js')

const { STEP, AUTH, FLAG, EXPIRY, Outcome } = calls
const plain = (more) => new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, ...more })
const read = new Outcome(null, AUTH.UNCHANGED, null, 0, 0)
const write = (data, flags = 0) => new Outcome(JSON.stringify(data), AUTH.UNCHANGED, null, flags, 0)

describe('the compact per-request results', () => {
  it('no cookie, a dead cookie, two cookies: anonymous, and the dead cookie is cleared', () => {
    const m = plain()
    const f = calls.bind(m)
    for (const [header, cleared] of [[undefined, false], ['a=1; b=2', false], ['sid=nope', true], ['sid=' + 'A'.repeat(43), true]]) {
      const [live, s] = f.begin(header, false, 'GET')
      assert.equal(s.exists, false, header)
      assert.equal(s.csrf, '-')
      const r = calls.finish(live, read)
      assert.equal(r !== null && /^sid=;.*Max-Age=0/.test(r.setCookie), cleared, header)
    }
    const good = m.createSync().newToken
    const [live, s] = f.begin(`sid=${good}; sid=${good}`, false, 'GET')
    assert.equal(s.exists, false, 'two session cookies are anonymous')
    assert.match(calls.finish(live, read).setCookie, /^sid=;/)
  })

  it('a live session: id, user, data and expiry agree with validateSync; a plain read sends nothing', () => {
    const clock = new ManualClock()
    const m = plain({ clock })
    const s = m.createSync('ann', { cart: [1, 2], n: 1 })
    const [live, state] = calls.bind(m).begin(`x=1; sid=${s.newToken}`, false, 'GET')
    const v = m.validateSync(s.newToken)
    assert.equal(state.exists, true)
    assert.equal(state.id, s.id)
    assert.equal(state.user, 'ann')
    assert.deepEqual(JSON.parse(state.dataJson), { cart: [1, 2], n: 1 })
    assert.equal(state.expiresAt, v.expiresAt)
    assert.equal(state.maxIdleMs, null)
    assert.equal(calls.finish(live, read), null)
    assert.throws(() => calls.finish(live, read), { code: 'internal', message: /already finished/ })
  })

  it('users and data with newlines and characters beyond ASCII survive the format', () => {
    const m = plain()
    for (const user of ['a\nb', 'é😀\n\n', '\n']) {
      const s = m.createSync(user, { 'k\n': 'v\n😀', é: ['\n'] })
      const [, state] = calls.bind(m).begin(`sid=${s.newToken}`, false, 'GET')
      assert.equal(state.user, user)
      assert.deepEqual(JSON.parse(state.dataJson), { 'k\n': 'v\n😀', é: ['\n'] })
    }
  })

  it('CSRF: the verdict of begin, minted tokens, and the verify step', () => {
    const m = plain()
    const f = calls.bind(m)
    const s = m.createSync()
    const token = m.csrfTokenSync(s.newToken)
    assert.equal(f.begin(`sid=${s.newToken}`, false, 'GET', undefined, 'junk')[1].csrf, '-')
    assert.equal(f.begin(`sid=${s.newToken}`, false, 'POST', undefined, token)[1].csrf, '1')
    assert.equal(f.begin(`sid=${s.newToken}`, false, 'POST', undefined, 'junk')[1].csrf, '0')
    assert.equal(f.begin(`sid=${s.newToken}`, false, 'POST')[1].csrf, '0')
    const [live] = f.begin(`sid=${s.newToken}`, false, 'POST')
    const minted = calls.step(live, STEP.CSRF_TOKEN)
    assert.notEqual(minted, token, 'masked: different every time')
    assert.equal(calls.step(live, STEP.VERIFY_CSRF, minted), '1')
    assert.equal(calls.step(live, STEP.VERIFY_CSRF, token), '1')
    assert.equal(calls.step(live, STEP.VERIFY_CSRF, 'junk'), '0')
  })

  it('a new session: its id is reserved at once and kept by the write that creates it', () => {
    const m = plain()
    const [live] = calls.bind(m).begin(undefined, false, 'POST')
    const id = calls.step(live, STEP.ENSURE_ID)
    assert.match(id, /^[0-9a-f]{64}$/)
    assert.equal(calls.step(live, STEP.ENSURE_ID), id)
    assert.equal(m.storeLenSync(), 0, 'reserving stores nothing')
    const r = calls.finish(live, write({ k: 1 }))
    assert.equal(r.noStore, true)
    const token = r.setCookie.split(';')[0].slice(4)
    assert.equal(m.idOf(token), id)
    assert.deepEqual(m.validateSync(token).data, { k: 1 })
  })

  it('prepare gives the headers before the writes; finishAsync then makes them with the same token', async () => {
    const m = plain()
    const [live] = calls.bind(m).begin(undefined, false, 'POST')
    const o = write({ k: 'v' })
    const early = calls.prepare(live, o)
    assert.equal(m.storeLenSync(), 0)
    const late = await calls.finishAsync(live, o)
    assert.deepEqual(late, early)
    assert.deepEqual(m.validateSync(early.setCookie.split(';')[0].slice(4)).data, { k: 'v' })
  })

  it('the outcome: a user is a login, an error response writes nothing, an expiry gives Max-Age', () => {
    const m = plain()
    const f = calls.bind(m)
    let [live] = f.begin(undefined, false, 'POST')
    let r = calls.finish(live, new Outcome('{"passport":{"user":"ann"}}', AUTH.USER, 'ann', 0, 0))
    const token = r.setCookie.split(';')[0].slice(4)
    assert.equal(m.validateSync(token).user, 'ann')
    ;[live] = f.begin(`sid=${token}`, false, 'POST')
    assert.equal(calls.finish(live, write({ passport: { user: 'ann' }, k: 1 }, FLAG.ERROR)), null)
    assert.deepEqual(m.validateSync(token).data, { passport: { user: 'ann' } })
    ;[live] = f.begin(`sid=${token}`, false, 'POST')
    r = calls.finish(live, new Outcome(null, AUTH.UNCHANGED, null, FLAG.EXPIRY_CHANGED | EXPIRY.IDLE * 16, 300000))
    assert.match(r.setCookie, /^sid=[^;]+; Max-Age=\d+/)
    assert.equal(calls.bind(m).begin(`sid=${token}`, false, 'GET')[1].maxIdleMs, 300000)
  })

  it('a finished request\'s handle is reused by the next begin, holding only the new request', () => {
    const m = plain()
    const f = calls.bind(m)
    const a = m.createSync('ann', { who: 'ann' })
    const b = m.createSync('bob', { who: 'bob' })
    const [first] = f.begin(`sid=${a.newToken}`, false, 'GET')
    assert.equal(calls.finish(first, read), null)
    f.recycle(first)
    const [second, state] = f.begin(`sid=${b.newToken}`, false, 'GET')
    assert.equal(second, first, 'the same handle')
    assert.equal(state.user, 'bob')
    assert.equal(calls.step(second, STEP.ENSURE_ID), b.id)
    const [third] = f.begin(`sid=${a.newToken}`, false, 'GET')
    assert.notEqual(third, first, 'a handle in use is never handed out twice')
  })

  it('the Promise forms agree with the synchronous ones', async () => {
    const m = plain({ clock: new ManualClock() })
    const s = m.createSync('bo', { a: 1 })
    const [, sync] = calls.bind(m).begin(`sid=${s.newToken}`, false, 'GET')
    const [live, async] = await calls.bind(m).beginAsync(`sid=${s.newToken}`, false, 'GET')
    assert.deepEqual(async, sync)
    const out = await calls.stepAsync(live, STEP.LOGOUT)
    assert.equal(out.exists, false)
    assert.equal(m.validateSync(s.newToken).valid, false)
  })

  it('bad arguments throw TypeError / RangeError, never abort', () => {
    const m = plain()
    const f = calls.bind(m)
    assert.throws(() => f.begin(5, false, 'GET'), TypeError)
    assert.throws(() => f.begin(undefined, false, undefined), TypeError)
    assert.throws(() => f.begin('sid=' + 'a'.repeat(20 * 1024 * 1024), false, 'GET'), RangeError)
    const [live] = f.begin(undefined, false, 'GET')
    assert.throws(() => calls.step(live, 99), RangeError)
    assert.throws(() => calls.finish(live, new Outcome('[1]', AUTH.UNCHANGED, null, 0, 0)), TypeError)
    assert.throws(() => calls.finish(live, new Outcome(null, 9, null, 0, 0)), RangeError)
    assert.throws(() => calls.finish(live, new Outcome(null, AUTH.LOGGED_IN, null, 0, 0)), TypeError)
    assert.throws(() => calls.finish(live, new Outcome(null, AUTH.UNCHANGED, null, EXPIRY.IDLE * 16, -1)), RangeError)
    assert.equal(calls.finish(live, read), null, 'a refused call left the request usable')
  })

  it('the hand-written callbacks refuse what is not a request handle, and wrong numbers', () => {
    const m = plain()
    const fast = require('../lib/native.js').__requestCalls()
    for (const handle of [undefined, {}, 'sid', m.__handle()]) {
      assert.throws(() => fast.begin(handle, 0, undefined, false, 'GET'), { name: 'TypeError', message: /request handle/ })
      assert.throws(() => fast.step(handle, STEP.CSRF_TOKEN), { name: 'TypeError', message: /request handle/ })
      assert.throws(() => fast.prepare(handle, 0, null, 0, null, 0, 0, null), { name: 'TypeError', message: /request handle/ })
      assert.throws(() => fast.finish(handle, 0, null, 0, null, 0, 0, null), { name: 'TypeError', message: /request handle/ })
    }
    const [live] = calls.bind(m).begin(undefined, false, 'GET')
    assert.throws(() => fast.step(live, 'one'), { name: 'TypeError', message: /step must be a number/ })
    assert.throws(() => fast.finish(live, '0', null, 0, null, 0, 0, null), { name: 'TypeError', message: /given must be a number/ })
    assert.throws(() => fast.finish(live, 0, null, '0', null, 0, 0, null), { name: 'TypeError', message: /auth must be a number/ })
    assert.throws(() => fast.finish(live, 0, null, 0, null, 0, undefined, null), { name: 'TypeError', message: /ms must be a number/ })
    // A string marked as given must be one.
    assert.throws(() => fast.finish(live, 1, 5, 0, null, 0, 0, null), { name: 'TypeError', message: /data must be a string, got a number/ })
    assert.throws(() => fast.begin(live, 1, 5, false, 'GET'), { name: 'TypeError', message: /cookieHeader must be a string, got a number/ })
    assert.throws(() => fast.begin(live, 0, undefined, 'yes', 'GET'), { name: 'TypeError', message: /https must be a boolean/ })
    assert.throws(() => fast.begin(live, 8, undefined, false, 0), { name: 'RangeError', message: /no method number 0/ })
    assert.throws(() => fast.begin(live, 8, undefined, false, 8), { name: 'RangeError', message: /no method number 8/ })
    assert.equal(fast.finish(live, 0, null, 0, null, 0, 0, null), '', 'a refused call left the request usable')
  })

  it('a common method passed by number is the same as its name', () => {
    const m = plain()
    const fast = require('../lib/native.js').__requestCalls()
    const bound = calls.bind(m)
    for (const [method, n] of [['GET', 1], ['HEAD', 2], ['POST', 3], ['PUT', 4], ['DELETE', 5], ['PATCH', 6], ['OPTIONS', 7]]) {
      const [a] = bound.begin(undefined, false, 'GET')
      const [b] = bound.begin(undefined, false, 'GET')
      assert.equal(fast.begin(a, 8, undefined, false, n), fast.begin(b, 0, undefined, false, method), method)
      calls.finish(a, read)
      calls.finish(b, read)
    }
    // A method that is not a string is refused, even one that converts to a known name.
    assert.throws(() => bound.begin(undefined, false, { toString: () => 'GET' }), { name: 'TypeError', message: /method must be a string/ })
    // A method outside the table, or in another case, is passed as its name.
    const [live, s] = bound.begin(undefined, false, 'post')
    assert.equal(s.csrf, '0', "'post' is not a safe method")
    calls.finish(live, read)
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

  it('stored keys named like its methods (another language wrote them) survive a write', async () => {
    const m = plain()
    const s = m.createSync(null, { id: 'theirs', save: [1], cookie: { a: 1 }, k: 1 })
    const srv = await appWith(m, (req, res) => { req.session.k = 2; res.send('ok') })
    try {
      await new Client(srv.url).post('/', { headers: { cookie: `sid=${s.newToken}` } })
    } finally {
      await srv.close()
    }
    assert.deepEqual(m.validateSync(s.newToken).data, { id: 'theirs', save: [1], cookie: { a: 1 }, k: 2 })
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
