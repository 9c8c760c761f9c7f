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
