'use strict'
// TesseraStore: an express-session Store over the core's per-request protocol, for apps that
// keep express-session. express-session owns the cookie and its (signed) value; the value is a
// Tessera token, minted by the core: pass `genid: store.genid` so express-session never invents
// one.
//
//   const store = new TesseraStore({ cookieName: 'sid', cookieSecure: false })
//   app.use(session({ store, genid: store.genid, secret: '…', resave: false, saveUninitialized: false }))
//
// The mapping, one request at a time:
//   genid(req)          → begin (no cookie: no store call) and the token reserved for its new
//                         session; nothing is stored until the first set()
//   get(sid)            → begin with the token; the request's state is kept for its set()/touch()
//                         (express-session hands the session over through createSession(req, …))
//   set / touch         → finish: the data as express-session left it (the core writes only the
//                         keys that changed since get(), so concurrent requests keep each other's
//                         keys), Passport's user for a new session (a login), and the cookie's
//                         `expires` as the session's end — an expired cookie's session is over
//   destroy(sid)        → logout (the token dies at once; regenerate() calls it)
// What the core adds over MemoryStore: ids in the store are hashes of the tokens, idle and
// absolute timeouts enforced by the store, logout that really ends the session, and writes that
// never resurrect a session ended meanwhile. Any store works (memory://, redis://): the calls
// that wait on a networked store run off the event loop.

const session = require('express-session')
const { SessionManager } = require('./native.js')
const { makeError } = require('./errors.js')
const calls = require('./request.js')
const deployment = require('./deployment.js')

const { STEP, AUTH, FLAG, EXPIRY, Outcome } = calls
const kLive = Symbol('tessera.request') // on the object get() returns: its request's handle

class TesseraStore extends session.Store {
  #calls
  #cookieName
  #several
  #lives = new WeakMap() // req → { live, fresh }: the request's state, until set()/touch()

  /**
   * `options`: SessionManager options, or `{ manager }` to share one. express-session owns the
   * cookie, so it cannot be handed a rotated token: periodic rotation is off
   * (`rotationIntervalMs: null`) unless you set it, and a shared manager must have it off too.
   * Tokens still change at login, through express-session's `regenerate` (Passport calls it).
   */
  constructor (options = {}) {
    super()
    if (options === null || typeof options !== 'object') {
      throw new TypeError('new TesseraStore(options): options must be an object')
    }
    const { manager, ...managerOptions } = options
    if (manager !== undefined && !(manager instanceof SessionManager)) {
      throw new TypeError('new TesseraStore({ manager }): manager must be a SessionManager')
    }
    this.manager = manager ?? new SessionManager({ rotationIntervalMs: null, ...managerOptions })
    if (this.manager.dbscPathPrefix !== null) {
      // A bound session is served only to a request that carries its bound cookie, and
      // express-session hands its store the session id alone.
      throw makeError('invalid_config', 'TesseraStore cannot serve device-bound sessions (dbsc): ' +
        'express-session does not pass the request\'s cookies to its store; use expressSession()')
    }
    this.sync = !this.manager.isNetworked
    // A memory store under several processes: warned about once (lib/deployment.js).
    this.#several = deployment.checkManager(this.manager)
    this.#calls = calls.bind(this.manager)
    this.#cookieName = this.manager.cookieName
    /** express-session's `genid`: a token reserved by the core; stored on the first set(). */
    this.genid = (req) => {
      const headers = (req && req.headers) || {}
      // Without a cookie, begin makes no store call: synchronous on any store.
      const [live] = this.#calls.begin(undefined, Boolean(req && req.secure), (req && req.method) || 'GET',
        typeof headers['user-agent'] === 'string' ? headers['user-agent'] : undefined, undefined)
      const token = calls.step(live, STEP.RESERVED_TOKEN)
      if (req) this.#lives.set(req, { live, fresh: true })
      return token
    }
  }

  /** Begin a request for `sid` (now, or off the loop on a networked store). */
  #begin (sid, done) {
    const header = `${this.#cookieName}=${sid}`
    if (this.sync) {
      let begun
      try {
        begun = this.#calls.begin(header, false, 'GET', undefined, undefined)
      } catch (err) {
        return finishWith(done, err)
      }
      return finishWith(done, null, begun)
    }
    this.#calls.beginAsync(header, false, 'GET', undefined, undefined).then((b) => done(null, b), done)
  }

  /** The session data for `sid`, or null if it has ended (or never existed). */
  get (sid, cb) {
    // Only a cookie value can be a token: nothing that would add another cookie to the header.
    if (typeof sid !== 'string' || /[\s;,=]/.test(sid)) return finishWith(cb, null, null)
    this.#begin(sid, (err, begun) => {
      if (err) return cb(err)
      const [live, state] = begun
      if (!state.exists) {
        if (this.#several && state.reason === 'unknown') deployment.unknownSession()
        return cb(null, null)
      }
      const sess = state.dataJson === '' ? {} : JSON.parse(state.dataJson)
      if (sess.cookie === null || typeof sess.cookie !== 'object') sess.cookie = {}
      Object.defineProperty(sess, kLive, { value: live })
      cb(null, sess)
    })
  }

  /** express-session makes `req.session` from what get() returned: keep its request's state. */
  createSession (req, sess) {
    const live = sess[kLive]
    if (live !== undefined) this.#lives.set(req, { live, fresh: false })
    return super.createSession(req, sess)
  }

  /** Save the session: the keys that changed, its user if new, its cookie's expiry. */
  set (sid, sess, cb) {
    this.#finish(sid, sess, cb)
  }

  /** Keep the session alive and store its refreshed cookie (and so its new expiry). */
  touch (sid, sess, cb) {
    this.#finish(sid, sess, cb)
  }

  #finish (sid, sess, cb) {
    if (typeof sid !== 'string' || sess === null || typeof sess !== 'object') {
      return finishWith(cb, makeError('invalid_argument', 'TesseraStore: set(sid, session) needs a session id and a session'))
    }
    let data
    try {
      data = JSON.stringify(sess)
    } catch (err) {
      return finishWith(cb, err)
    }
    const req = sess.req
    const kept = req && this.#lives.get(req)
    if (kept !== undefined) this.#lives.delete(req) // one finish per request state
    else if (/[\s;,=]/.test(sid)) return finishWith(cb, null) // not a token: nothing to save
    const run = (live, fresh) => {
      // A new session's user is a login (it takes the reserved token, the one express-session
      // holds); an existing session keeps its token, so its user changes only through
      // regenerate(), express-session's own privilege change.
      const user = fresh ? passportUser(sess) : undefined
      const [kind, ms] = this.#expiry(sess)
      // express-session saves whatever the status: an error response (5xx) writes nothing.
      const res = req && req.res
      const error = res && res.statusCode >= 500 ? FLAG.ERROR : 0
      const outcome = new Outcome(data, user === undefined ? AUTH.UNCHANGED : AUTH.USER, user ?? null, kind * 16 | error, ms)
      const settle = (r) => {
        if (r !== null && r.error !== null) return cb && cb(r.error)
        if (cb) cb(null)
      }
      if (this.sync) {
        let r
        try {
          r = calls.finish(live, outcome)
        } catch (err) {
          return finishWith(cb, err)
        }
        this.#calls.recycle(live)
        return process.nextTick(settle, r)
      }
      calls.finishAsync(live, outcome).then((r) => {
        this.#calls.recycle(live)
        settle(r)
      }, (err) => cb && cb(err))
    }
    if (kept !== undefined) return run(kept.live, kept.fresh)
    // A second save in the same request, or a save without get(): begin again. A session that
    // has ended is not re-created.
    this.#begin(sid, (err, begun) => {
      if (err) return cb && cb(err)
      if (!begun[1].exists) return cb && cb(null)
      run(begun[0], false)
    })
  }

  /** The session's end, from express-session's cookie: [EXPIRY kind, ms]. */
  #expiry (sess) {
    const expires = sess.cookie && sess.cookie.expires
    const at = expires ? new Date(expires).valueOf() : NaN
    if (Number.isNaN(at)) return [EXPIRY.POLICY, 0]
    // express-session measures with Date.now(); the session ends by the manager's clock.
    return [EXPIRY.UNTIL, Math.max(0, Math.ceil(this.manager.now() + (at - Date.now())))]
  }

  /** End the session: its token is dead from now on. */
  destroy (sid, cb) {
    if (typeof sid !== 'string') return finishWith(cb, null)
    this.#call('logout', [sid], cb, () => undefined)
  }

  /** How many sessions the store holds (a token minted by genid and never saved is not one). */
  length (cb) {
    this.#call('storeLen', [], cb)
  }

  /** End every session. */
  clear (cb) {
    this.#call('revokeAll', [], cb, () => undefined)
  }

  /**
   * Not offered: it would hand out every session's token (express-session keys sessions by
   * their cookie value). List a user's sessions, by public id, with `manager.listUser(user)`.
   */
  all (cb) {
    finishWith(cb, makeError('invalid_argument', 'TesseraStore.all() is not offered: it would list ' +
      'every token; use store.manager.listUser(user) for public ids per user'))
  }

  #call (op, args, cb, map = (v) => v) {
    let result
    try {
      result = this.sync ? this.manager[op + 'Sync'](...args) : this.manager[op](...args)
    } catch (err) {
      return finishWith(cb, err)
    }
    if (result instanceof Promise) {
      result.then((v) => finishWith(cb, null, map(v)), (err) => finishWith(cb, err))
    } else {
      finishWith(cb, null, map(result))
    }
  }
}

/** Passport's user in express-session's data: undefined when Passport is not in use. */
function passportUser (sess) {
  const p = sess.passport
  if (p === undefined) return undefined
  const u = p && p.user
  if (u === undefined || u === null) return null
  return typeof u === 'string' ? u : typeof u === 'object' ? JSON.stringify(u) : String(u)
}

function finishWith (cb, err, value) {
  if (typeof cb === 'function') process.nextTick(cb, err || null, value)
}

module.exports = { TesseraStore }
