'use strict'
// The SessionManager API on its own: errors and their codes, hostile input, events, the
// Promise and synchronous forms, the ManualClock.
const { describe, it } = require('node:test')
const assert = require('node:assert/strict')
const t = require('..')
const { SessionManager, ManualClock } = t
const calls = require('../lib/request.js')

const plain = () => new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })

describe('errors', () => {
  it('invalid options throw InvalidConfigError naming the camelCase option', () => {
    for (const [opts, word] of [
      [{ idleTimeoutMs: -1 }, 'idleTimeoutMs'],
      [{ idleTimeoutMs: 1.5 }, 'idleTimeoutMs'],
      [{ idleTimoutMs: 5 }, 'idleTimoutMs'],
      [{ cookieSecure: false }, 'cookie'],
      [{ cookieSameSite: 'sometimes' }, 'ookie'],
      [{ store: 'ftp://x' }, 'store'],
      [{ rotationIntervalMs: {} }, 'rotationIntervalMs']
    ]) {
      assert.throws(() => new SessionManager(opts), (err) => {
        assert.ok(err instanceof t.InvalidConfigError, String(err))
        assert.ok(err instanceof t.TesseraError)
        assert.ok(err instanceof Error)
        assert.equal(err.code, 'invalid_config')
        assert.equal(err.name, 'InvalidConfigError')
        assert.ok(err.message.includes(word), err.message)
        return true
      })
    }
  })

  it('every error kind has its class and code; rejections are SessionEndedError', async () => {
    const m = plain()
    assert.throws(() => m.createSync(''), { name: 'InvalidArgumentError', code: 'invalid_argument' })
    assert.throws(() => m.revokeSync('zz'), { name: 'InvalidArgumentError', code: 'invalid_argument' })
    const small = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, maxDataBytes: 16 })
    const s = small.createSync()
    assert.throws(() => small.setSync(s.id, 'k', 'x'.repeat(100)), { name: 'DataTooLargeError', code: 'data_too_large' })
    small.logoutSync(s.newToken)
    assert.throws(() => small.setSync(s.id, 'k', 1), (err) => err instanceof t.SessionEndedError && err.code === 'unknown' && err.reason === 'unknown')
    await assert.rejects(small.set(s.id, 'k', 1), { name: 'SessionEndedError', code: 'unknown' })
    assert.deepEqual(t.reasonCodes(), Object.values(t.Reason))
    assert.deepEqual(t.errorCodes(), Object.values(t.ErrorCode))
  })

  it('messages never contain the token', () => {
    const m = plain()
    const s = m.createSync()
    m.logoutSync(s.newToken)
    try {
      m.csrfTokenSync(s.newToken)
      assert.fail('expected a rejection')
    } catch (err) {
      assert.ok(!String(err.message).includes(s.newToken))
      assert.ok(!String(err.stack).includes(s.newToken))
    }
  })
})

describe('hostile input', () => {
  const m = plain()
  const { begin } = calls.bind(m)
  const s = m.createSync()
  const weird = [undefined, null, 42, 1n, true, Symbol('x'), {}, [], () => 1, NaN, new Date(), Buffer.from('x')]

  it('wrong types throw TypeError with code ERR_INVALID_ARG_TYPE, for every method', () => {
    for (const v of weird) {
      assert.throws(() => m.validateSync(v), TypeError)
      assert.throws(() => m.logoutSync(v), TypeError)
      assert.throws(() => m.setSync(v, 'k', 1), TypeError)
      assert.throws(() => m.setSync(s.id, v, 1), TypeError)
      assert.throws(() => m.revokeUserSync(v), TypeError)
      assert.throws(() => m.verifyCsrfSync(s.newToken, v), TypeError)
      if (typeof v !== 'function') assert.throws(() => m.onEvent(v), TypeError)
      if (v !== undefined && v !== null) {
        assert.throws(() => begin(v, false, 'GET'), TypeError)
        assert.throws(() => m.validateSync(s.newToken, v === 1n ? v : 7), TypeError)
      }
    }
    assert.throws(() => m.validateSync(1), { code: 'ERR_INVALID_ARG_TYPE', message: /token must be a string, got a number/ })
  })

  it('Promise forms throw the TypeError synchronously (the arguments are checked first)', () => {
    assert.throws(() => m.validate(5), TypeError)
    assert.throws(() => m.login(null, 5), TypeError)
  })

  it('huge strings throw RangeError without being copied; long ones are merely malformed', () => {
    const huge = 'a'.repeat(20 * 1024 * 1024)
    assert.throws(() => m.validateSync(huge), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => begin(huge, false, 'GET'), RangeError)
    assert.throws(() => m.loginSync(null, huge), RangeError)
    assert.equal(m.validateSync('a'.repeat(5000)).reason, 'malformed')
    assert.equal(m.validateSync('').reason, 'malformed')
    assert.equal(m.validateSync('\u0000'.repeat(43)).reason, 'malformed')
    assert.equal(m.validateSync('é'.repeat(43)).reason, 'malformed')
    assert.equal(m.validateSync('\ud800'.repeat(43)).reason, 'malformed')
    assert.throws(() => m.loginSync(null, 'u'.repeat(2000)), { code: 'invalid_argument' })
  })

  it('data must be JSON: functions, symbols, cycles and deep nesting are TypeErrors', () => {
    const cyclic = {}
    cyclic.self = cyclic
    let deep = {}
    for (let i = 0; i < 10000; i++) deep = { deep }
    for (const bad of [() => 1, Symbol('s'), cyclic, deep, NaN, Infinity, { f () {} }]) {
      assert.throws(() => m.setSync(s.id, 'k', bad), TypeError)
    }
    assert.throws(() => m.createSync(null, [1, 2]), TypeError)
    assert.throws(() => m.createSync(null, 'str'), TypeError)
    assert.throws(() => m.replaceDataSync(s.id, undefined), TypeError)
    assert.throws(() => m.updateDataSync(s.id, null, 'k'), TypeError)
    m.setSync(s.id, 'ok', { a: [1, 'two', null, true, { b: 2.5 }] })
    assert.deepEqual(m.validateSync(s.newToken).data, { ok: { a: [1, 'two', null, true, { b: 2.5 }] } })
  })

  it('odd cookie headers never throw', () => {
    for (const h of ['', ';;;', 'sid', 'sid=', '=sid', 'sid="', 'sid=""', 'a=b; sid=x; sid=y', '\u0000=\u0000', 'sid=' + 'é'.repeat(100)]) {
      const [, r] = begin(h, false, 'GET')
      assert.equal(r.exists, false, h)
    }
  })

  it('bad clock values are RangeErrors', () => {
    assert.throws(() => new ManualClock(-1), RangeError)
    assert.throws(() => new ManualClock(1.5), RangeError)
    assert.throws(() => new ManualClock('x'), TypeError)
    const c = new ManualClock()
    assert.throws(() => c.advance(2 ** 60), RangeError)
    assert.throws(() => new SessionManager({ clock: {} }), TypeError)
    assert.throws(() => new SessionManager({ clock: plain() }), TypeError)
    assert.throws(() => new SessionManager(5), TypeError)
  })
})

describe('events', () => {
  it('a listener sees the lifecycle in order, without tokens; a throwing listener is a warning', async () => {
    const clock = new ManualClock()
    const m = new SessionManager({ clock, cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
    const seen = []
    m.onEvent((e) => seen.push(e))
    m.onEvent(() => { throw new Error('listener bug') })
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const a = m.createSync()
      const b = m.loginSync(a.newToken, 'alice')
      await m.logout(b.newToken)
      assert.deepEqual(seen.map((e) => e.kind), ['created', 'login', 'logout'])
      assert.equal(seen[1].previousId, a.id)
      assert.equal(seen[1].user, 'alice')
      assert.equal(seen[1].at, clock.now())
      for (const e of seen) {
        assert.ok(!JSON.stringify(e).includes(a.newToken) && !JSON.stringify(e).includes(b.newToken))
      }
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(warnings.filter((w) => w.code === 'TESSERA_LISTENER_THREW').length, 3)
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('events from the background sweeper arrive through the threadsafe function', async () => {
    const clock = new ManualClock()
    const m = new SessionManager({ clock, cookieName: 'sid', cookieSecure: false, sweepIntervalMs: 20, idleTimeoutMs: 1000, absoluteTimeoutMs: 5000, rotationGraceMs: 100 })
    const seen = []
    m.onEvent((e) => seen.push(e))
    m.createSync('zoe')
    clock.advance(2000)
    for (let i = 0; i < 100 && !seen.some((e) => e.kind === 'expired'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.ok(seen.some((e) => e.kind === 'expired' && e.user === 'zoe'), JSON.stringify(seen))
  })
})

describe('Promise and synchronous forms', () => {
  it('agree, and Promises run off the event loop', async () => {
    const m = new SessionManager({ clock: new ManualClock(), cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null })
    const s = await m.create('amy', { n: 1 }, { https: true, userAgent: 'test' })
    assert.equal(s.valid, true)
    assert.equal(s.secure, true)
    assert.match(s.setCookie, /^sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
    const v = await m.validate(s.newToken, { https: true })
    const w = m.validateSync(s.newToken, { https: true })
    assert.deepEqual(v, w)
    assert.equal(m.isNetworked, false)
    assert.equal(m.cookieName, 'sid')
    const list = await m.listUser('amy')
    assert.deepEqual(list.map((i) => [i.id, i.userAgent, i.secure]), [[s.id, 'test', true]])
    assert.equal(m.idOf(s.newToken), s.id)
    assert.equal(m.idOf('bad'), null)
    assert.deepEqual(m.readCookie(`a=1; sid=${s.newToken}`), { state: 'one', token: s.newToken })
    assert.deepEqual(m.readCookie('sid=1; sid=2'), { state: 'ambiguous' })
    assert.deepEqual(m.readCookie(undefined), { state: 'absent' })
    assert.equal(m.clearCookie(), 'sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax')
    assert.deepEqual(await m.updateData(s.id, { b: 2 }, ['n']), { b: 2 })
    const csrf = await m.csrfToken(s.newToken)
    assert.equal(await m.verifyCsrf(s.newToken, csrf), true)
    assert.equal(await m.storeLen(), 1)
    assert.equal(await m.revokeAll(), 1)
    assert.equal(m.storeLenSync(), 0)
    assert.equal(typeof t.version(), 'string')
  })
})

describe('updateData', () => {
  it('updateData is all or nothing: an over-large patch changes nothing', () => {
    const m = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, maxDataBytes: 64 })
    const s = m.createSync(null, { keep: 1, drop: 2 })
    assert.throws(() => m.updateDataSync(s.id, { big: 'x'.repeat(100) }, ['drop']), { code: 'data_too_large' })
    assert.deepEqual(m.validateSync(s.newToken).data, { keep: 1, drop: 2 })
    assert.deepEqual(m.updateDataSync(s.id, { drop: 3 }, ['drop']), { keep: 1, drop: 3 }, 'a key in both ends up set')
    assert.deepEqual(m.updateDataSync(s.id), { keep: 1, drop: 3 }, 'no change: the data as it is')
  })
})
