'use strict'
// Express glue: expressSession() gives every request a `req.session` with the shape Express
// users and Passport rely on; csrfProtection() answers 403 where the core's CSRF verdict says
// so. Every rule — which cookie to send, `no-store`, which methods need a CSRF token, what
// changed in the data, when a user change is a login — is the core's per-request protocol
// (tessera::http, through lib/request.js). This file maps Express onto it:
//
//   request in    → begin (one native call: the Cookie header, HTTPS, method, user agent and
//                   the CSRF header; the request's state stays in Rust behind a handle)
//   response out  → finish (one native call, in the writeHead hook: the data as the app left
//                   it, Passport's `session.passport.user` or `userId(session)` as the user, the
//                   expiry set through `req.session.cookie`, whether the status is 5xx)
//   regenerate()  → a new empty req.session (express-session's contract) and a new token at
//                   finish; what the app copies back is kept, a user in it is a login (Passport
//                   calls regenerate at login and logout and copies back what it keeps)
//   destroy()     → logout now; `req.session` is gone
//   req.tessera.login(user) → a login at finish (always a new token, also for the same user)
//   req.session.reauthenticate(authn) → step-up now: a new token, the old one dead at once
//
// Device-bound sessions (`dbsc` on): the middleware answers `POST <prefix>/register` and
// `/refresh` itself (before any body parser or CSRF check: Chrome sends empty bodies and no CSRF
// token), with the core's whole response (tessera::dbsc). requireBound() and requireRecent() are
// the guards; a request whose cookie names a bound session it did not prove is anonymous with
// `req.tessera.reason === 'binding_missing'`, and nothing it writes is stored.
//
// With an in-process store (memory://) every call is synchronous. With a networked store the
// calls that wait on the store run off the event loop: begin before next(); at the writeHead
// hook, `prepare` gives the headers at once (the tokens are minted there) and finish runs off
// the loop while the body's writes and `end()` wait until it completed — so a response that
// sends its headers early (res.writeHead, res.write, res.sendFile) still has its writes made
// before the client has the whole response. A response that reaches end() with its headers
// unsent simply waits for finish, then sends them.
//
// The session's data arrives as JSON text and is parsed only if the request reads
// `req.session` (a Proxy loads it on first use); a request that never did, or only read
// primitive values, cannot have changed it, so finish gets no data to compare.
//
// The middleware adds no property to `req` or `res` (see "Attaching to req and res" below):
// on Express's objects each added property costs a new hidden class, every request.

const http = require('node:http')
const util = require('node:util')
const { SessionManager } = require('./native.js')
const calls = require('./request.js')
const deployment = require('./deployment.js')
const { StoreUnavailableError, InvalidArgumentError } = require('./errors.js')
const native = require('./native.js')

const { STEP, AUTH, FLAG, EXPIRY, Outcome } = calls
const kState = Symbol('tessera.state') // on a session's target: the request's State
const kPending = Symbol('tessera.pending') // on a session's target: data JSON not yet loaded, or null
const kFlags = Symbol('tessera.flags') // on a session's target: CHANGED | NESTED
const kHidden = Symbol('tessera.hidden') // on a session's target: stored keys req.session cannot show
const CHANGED = 1 // a data key was set, deleted or defined through req.session
const NESTED = 2 // some value is an object or array, which can change without a trap
const kTarget = Symbol('tessera.target') // read through the Proxy: its target

// ---------------------------------------------------------------------------------------------
// req.session

/** Per-request state, kept out of sight of the session's data (and of loggers). */
class State {
  constructor (mode, live, s) {
    // No reference to req or res: the State is a WeakMap value keyed by req, and a young
    // generation collection keeps such values alive whenever the key is (cheap only if small).
    this.mode = mode
    this.live = live // the core's Request, behind a handle; null once finish has it
    this.csrf = s.csrf // the core's CSRF verdict at begin: '-' not needed, '0' invalid, '1' valid
    this.id = null
    this.user = null
    this.expiresAt = null
    this.dataJson = ''
    this.binding = null
    this.reason = s.reason // why the request's cookie gave no session ('binding_missing', …), or null
    this.adopt(s)
    // The session's own expiry (the core keeps only a shortened idle time across requests).
    this.expiry = s.maxIdleMs === null ? EXPIRY.NONE : EXPIRY.IDLE
    this.expiryMs = s.maxIdleMs ?? 0
    this.expiryChanged = false
    this.login = null // a user req.tessera.login() signed in, for finish
    this.authn = null // JSON text of { level, amr }: how strongly a login of this request authenticated
    this.regenerated = false // req.session.regenerate() ran: req.session is a new session
    this.session = newSession(this, s.exists ? s.dataJson : '')
    this.sessionID = undefined // req.sessionID if the app assigned one
    this.destroyed = false
    this.done = false // finish (or prepare) has run
    this.queue = null // async mode: finish, then the body writes and end() queued behind it
    this.cookie = null // req.session.cookie, made on first use
    this.api = null // req.tessera, made on first use
    this.authenticated = undefined // req.tessera.authenticated, read on first use
  }

  /** Take the session state the core reported (begin or a step). */
  adopt (s) {
    this.id = s.id
    this.user = s.user
    this.expiresAt = s.expiresAt
    this.dataJson = s.exists ? s.dataJson : ''
    this.binding = s.binding
  }

  /**
   * The session's id: a new session's — or, after regenerate(), the one the key cycle will
   * give — is reserved on first use (no store call) and kept by finish.
   */
  sessionId () {
    if (this.id === null && !this.done && !this.destroyed) {
      this.id = calls.step(this.live, this.regenerated ? STEP.NEXT_ID : STEP.ENSURE_ID)
    }
    return this.id
  }

  /** Run a store-touching step now (sync) or off the loop, then `done(err, state)`. */
  run (which, arg, done) {
    if (this.done) return process.nextTick(done, new Error('tessera: the response has already been sent'))
    if (this.mode.sync) {
      let s
      try {
        s = calls.step(this.live, which, arg)
      } catch (err) {
        return process.nextTick(done, err)
      }
      return process.nextTick(done, null, s)
    }
    calls.stepAsync(this.live, which, arg).then((s) => done(null, s), done)
  }

  /** What the app did, for prepare/finish. */
  outcome (error) {
    let data = null
    let auth = AUTH.UNCHANGED
    let user = null
    const session = this.session
    if (session !== null && typeof session === 'object') {
      const t = session[kTarget]
      // A session unread, or read with only primitive values and untouched, cannot have
      // changed; another object the app assigned to req.session is the data as it left it.
      if (t === undefined || (t[kPending] === null && (t[kFlags] !== 0 || this.regenerated))) {
        data = JSON.stringify(t === undefined ? session : withHidden(t))
        // Serialized exactly as loaded (a Passport app reads its nested `passport` on every
        // request): nothing changed, so the core need not parse and compare it.
        if (!this.regenerated && (data === this.dataJson || (data === '{}' && this.dataJson === ''))) data = null
        const u = this.mode.userOf(session)
        if (this.regenerated) {
          // After regenerate() the session is new: a user in it has just signed in.
          auth = typeof u === 'string' ? AUTH.LOGGED_IN : AUTH.USER
          user = typeof u === 'string' ? u : null
        } else if (u !== undefined) {
          auth = AUTH.USER
          user = u
        }
      }
    }
    if (this.login !== null) {
      auth = AUTH.LOGGED_IN
      user = this.login
    }
    let flags = this.expiry * 16
    if (error) flags |= FLAG.ERROR
    if (this.expiryChanged) flags |= FLAG.EXPIRY_CHANGED
    if (this.regenerated) flags |= FLAG.REGENERATE
    return new Outcome(data, auth, user, flags, this.expiryMs, this.authn)
  }

  /** Run a store-touching step, as a Promise of `then(result)` (and `cb(err, value)` if given). */
  promise (which, arg, cb, then) {
    const p = new Promise((resolve, reject) => {
      this.run(which, arg, (err, r) => err ? reject(err) : resolve(then(r)))
    })
    return withCallback(p, cb)
  }

  /** Step-up now: a new token, the old one dead at once; user, data and binding kept. */
  reauthenticate (authn, cb) {
    let text
    try {
      text = authnText(authn, 'reauthenticate(authn)')
    } catch (err) {
      return withCallback(Promise.reject(err), cb)
    }
    return this.promise(STEP.REAUTHENTICATE, text, cb, (s) => {
      this.adopt(s)
      this.authenticated = undefined
    })
  }

  /** Offer the signed-in, unbound session a device binding on this response. */
  offerBinding (cb) {
    return this.promise(STEP.OFFER_BINDING, undefined, cb, (made) => made === '1')
  }

  /** The app set the session's expiry through `req.session.cookie`. */
  setExpiry (kind, ms) {
    this.expiry = kind
    this.expiryMs = ms
    this.expiryChanged = true
  }
}

/**
 * `req.session.cookie`: express-session's cookie settings, mapped onto the session's own expiry
 * (it may shorten the configured policy, never lengthen it):
 *   maxAge = ms > 0 → the session ends after that long unused (Max-Age: as long as it can live)
 *   maxAge = null   → the configured policy;  maxAge ≤ 0 → the session ends now
 *   expires = Date  → the session ends then at the latest;  expires = false → browser-session cookie
 * The cookie's name and attributes are the manager's (`cookie*` options).
 */
class SessionCookie {
  #state
  constructor (state) { this.#state = state }

  get maxAge () {
    const s = this.#state
    if (s.expiry === EXPIRY.IDLE) return s.expiryMs
    if (s.expiry === EXPIRY.UNTIL) return s.expiryMs - s.mode.manager.now()
    return null
  }

  set maxAge (ms) {
    const s = this.#state
    if (ms === null || ms === undefined) return s.setExpiry(EXPIRY.POLICY, 0)
    if (ms === false) return s.setExpiry(EXPIRY.BROWSER_SESSION, 0)
    if (typeof ms !== 'number' || Number.isNaN(ms)) throw new TypeError('req.session.cookie.maxAge must be a number of ms, null or false')
    if (ms <= 0) return s.setExpiry(EXPIRY.UNTIL, s.mode.manager.now())
    s.setExpiry(EXPIRY.IDLE, Math.min(Math.ceil(ms), Number.MAX_SAFE_INTEGER))
  }

  get originalMaxAge () {
    const s = this.#state
    return s.expiry === EXPIRY.IDLE ? s.expiryMs : null
  }

  get expires () {
    const s = this.#state
    if (s.expiry === EXPIRY.BROWSER_SESSION) return false
    const left = this.maxAge
    return left === null ? null : new Date(Date.now() + left)
  }

  set expires (date) {
    const s = this.#state
    if (date === null || date === undefined) return s.setExpiry(EXPIRY.POLICY, 0)
    if (date === false) return s.setExpiry(EXPIRY.BROWSER_SESSION, 0)
    if (!(date instanceof Date) || Number.isNaN(date.valueOf())) throw new TypeError('req.session.cookie.expires must be a Date, null or false')
    // express-session measures with Date.now(); the session ends by the manager's clock.
    const at = s.mode.manager.now() + (date.valueOf() - Date.now())
    s.setExpiry(EXPIRY.UNTIL, Math.max(0, Math.ceil(at)))
  }

  toJSON () { return { maxAge: this.maxAge, expires: this.expires, originalMaxAge: this.originalMaxAge } }
}

/**
 * The target behind `req.session`: the session's data as own properties (loaded from JSON on
 * first use, see HANDLER), plus express-session's methods. Data values must be
 * JSON-compatible; the core compares them key by key.
 */
class Session {
  constructor (state, json) {
    this[kState] = state
    this[kPending] = json // JSON text not parsed yet ('' for none), or null once loaded
    this[kFlags] = 0
  }

  /** The session's public id (64 hex digits); a new session's is reserved on first use. */
  get id () { return this[kState].sessionId() }

  /** express-session's cookie settings, mapped onto the session's expiry (SessionCookie). */
  get cookie () {
    const s = this[kState]
    if (s.cookie === null) s.cookie = new SessionCookie(s)
    return s.cookie
  }

  /**
   * A new, empty `req.session` (express-session's contract) and a new token when the response
   * goes out (the old one dies then, at once): what the app copies back is kept, the rest is
   * removed, and the user is the one the new session names — a user there is a login (a new
   * CSRF secret and deadline, also for the same user), none a logout. Passport calls this at
   * login and logout. An error response (5xx) cycles nothing and signs nobody in. The new id is
   * known at once (reserved; finish gives the session that id).
   */
  regenerate (cb) {
    const state = this[kState]
    if (!state.done) {
      state.regenerated = true
      state.id = null // the new session's, reserved when asked for
      state.session = newSession(state, null)
    }
    if (cb) process.nextTick(cb, state.done ? new Error('tessera: the response has already been sent') : undefined)
  }

  /** End this session now; `req.session` is gone and the cookie is cleared. */
  destroy (cb) {
    const state = this[kState]
    state.run(STEP.LOGOUT, undefined, (err, s) => {
      if (!err) {
        state.adopt(s)
        state.destroyed = true
        state.session = undefined
      }
      if (cb) cb(err || undefined)
    })
  }

  /**
   * The changes are made when the response goes out (before its headers in memory, before
   * `end()` completes on a networked store), so there is nothing to do now.
   */
  save (cb) {
    if (cb) process.nextTick(cb)
  }

  /** Drop this request's unsaved changes: the data is again what the request began with. */
  reload (cb) {
    const state = this[kState]
    state.session = newSession(state, state.dataJson)
    if (cb) process.nextTick(cb)
  }

  /**
   * How this request proved the session's device (device-bound sessions): `'unbound'` (not
   * bound), `'pending'` (bound moments ago), `'fresh'` (a current bound cookie); null without a
   * session (also for a bound session the request did not prove: `req.tessera.reason` is then
   * `'binding_missing'`).
   */
  get binding () { return this[kState].binding }

  /**
   * Offer the signed-in session a device binding on this response (sign-ins over HTTPS offer
   * one by themselves): resolves whether an offer was made (`dbsc` on, HTTPS, signed in, not
   * bound yet). Calls back `cb(err, made)` too, if given.
   */
  offerBinding (cb) { return this[kState].offerBinding(cb) }

  /**
   * Step-up: the signed-in user proved who they are again, `authn = { level, amr }` strong
   * (level default 1). Now: a new token (sent with this response; the old one dies at once),
   * a new CSRF secret, the authentication recorded as of now; user, data and device binding
   * kept. Resolves when done; calls back `cb(err)` too, if given.
   */
  reauthenticate (authn, cb) { return this[kState].reauthenticate(authn, cb) }

  /** Using the session already moved its idle deadline; nothing to do. */
  touch () { return this }

  /** The session's cookie lifetime follows its expiry; nothing to reset. */
  resetMaxAge () { return this }

  /** console.log(req.session) shows the data. */
  [util.inspect.custom] (depth, options, inspect) {
    return `Session ${inspect(dataOf(this), options)}`
  }
}

const PROTO = new Set(Object.getOwnPropertyNames(Session.prototype))

/** Parse the target's pending data into own properties (once). */
function load (t) {
  const json = t[kPending]
  if (json === null) return
  t[kPending] = null
  if (json === '' || json === '{}') return
  const data = JSON.parse(json)
  let nested = false
  for (const key of Object.keys(data)) {
    const value = data[key]
    if (PROTO.has(key) || key === '__proto__') {
      // Named like a method or `id`/`cookie` (another language wrote it): kept as it is.
      if (t[kHidden] === undefined) t[kHidden] = Object.create(null)
      own(t[kHidden], key, value)
      continue
    }
    if (value !== null && typeof value === 'object') nested = true
    t[key] = value
  }
  if (nested) t[kFlags] |= NESTED
}

/** The target's data with the stored keys req.session cannot show, for the core to compare. */
function withHidden (t) {
  const hidden = t[kHidden]
  if (hidden === undefined) return t
  const out = Object.create(null)
  for (const key of Object.keys(hidden)) own(out, key, hidden[key])
  for (const key of Object.keys(t)) own(out, key, t[key])
  return out
}

/** A data key is about to change through the Proxy. */
function touched (t) {
  load(t)
  t[kFlags] |= CHANGED
}

/** A plain copy of a session's data. */
function dataOf (session) {
  const t = session[kTarget] ?? session
  load(t)
  const out = {}
  for (const key of Object.keys(t)) out[key] = t[key]
  return out
}

/**
 * `req.session` is a Proxy over a Session so that its data is parsed on first use: every
 * operation that can see or change data loads it first; the methods and `id`/`cookie` do not.
 * Symbol-keyed internals never show (keys, spread, descriptors).
 */
const HANDLER = {
  get (t, key) {
    if (typeof key === 'symbol') return key === kTarget ? t : t[key]
    if (!PROTO.has(key)) load(t)
    return t[key]
  },
  set (t, key, value) {
    if (typeof key !== 'symbol') touched(t)
    return Reflect.set(t, key, value)
  },
  has (t, key) {
    if (typeof key !== 'symbol' && !PROTO.has(key)) load(t)
    return key in t
  },
  deleteProperty (t, key) {
    if (typeof key !== 'symbol') touched(t)
    return Reflect.deleteProperty(t, key)
  },
  defineProperty (t, key, descriptor) {
    if (typeof key !== 'symbol') touched(t)
    return Reflect.defineProperty(t, key, descriptor)
  },
  ownKeys (t) {
    load(t)
    return Reflect.ownKeys(t).filter((k) => k !== kState && k !== kPending && k !== kFlags && k !== kHidden)
  },
  getOwnPropertyDescriptor (t, key) {
    if (key === kState || key === kPending || key === kFlags || key === kHidden) return undefined
    if (typeof key !== 'symbol') load(t)
    return Reflect.getOwnPropertyDescriptor(t, key)
  }
}

/** A `req.session` for `state` whose data is the JSON text `json` ('' for none, null: loaded, empty). */
function newSession (state, json) {
  return new Proxy(new Session(state, json), HANDLER)
}

/** `p`, also calling back `cb(err)` / `cb(null, value)` when `cb` is a function. */
function withCallback (p, cb) {
  if (typeof cb === 'function') p.then((v) => cb(null, v), (err) => cb(err))
  return p
}

/**
 * `{ level, amr }` (how strongly a user authenticated) as the JSON text the core checks; level
 * defaults to 1. Throws a TypeError for what cannot be one (the core checks the values).
 */
function authnText (authn, what) {
  if (authn === undefined || authn === null) return '{}'
  if (typeof authn !== 'object' || Array.isArray(authn)) {
    throw new TypeError(`${what}: authn must be an object { level, amr }`)
  }
  const { level, amr } = authn
  if (level !== undefined && !Number.isInteger(level)) throw new TypeError(`${what}: level must be a whole number`)
  if (amr !== undefined && !Array.isArray(amr)) throw new TypeError(`${what}: amr must be an array of strings`)
  return JSON.stringify({ level, amr })
}

/** The user Passport (≥ 0.6) keeps in the session: undefined when Passport is not in use. */
function passportUser (session) {
  const p = session.passport
  if (p === undefined) return undefined
  const u = p && p.user
  if (u === undefined || u === null) return null
  return typeof u === 'string' ? u : typeof u === 'object' ? JSON.stringify(u) : String(u)
}

// ---------------------------------------------------------------------------------------------
// The response: finish

/**
 * What the app did, as [outcome, null]; or, when its data cannot be saved (not JSON: a cycle,
 * a BigInt), [an error outcome, the TypeError]: nothing is written, but the headers the
 * session needs (a rotated token, a cleared cookie) still go out.
 */
function outcomeOf (state, error) {
  try {
    return [state.outcome(error), null]
  } catch (err) {
    return [new Outcome(null, AUTH.UNCHANGED, null, FLAG.ERROR, 0), err]
  }
}

/** Add the core's headers to the response. */
function applyHeaders (res, r) {
  if (r === null) return
  if (r.setCookie !== null) appendCookie(res, r.setCookie)
  if (r.csrfCookie !== null) appendCookie(res, r.csrfCookie)
  if (r.boundCookie !== null) appendCookie(res, r.boundCookie)
  if (r.registration !== null) res.setHeader('Secure-Session-Registration', r.registration)
  if (r.noStore) res.setHeader('Cache-Control', 'no-store')
}

function appendCookie (res, cookie) {
  const prev = res.getHeader('set-cookie')
  res.setHeader('Set-Cookie', prev === undefined ? cookie : [].concat(prev, cookie))
}

/** The status a writeHead call will send. */
function statusOf (res, args) {
  return typeof args[0] === 'number' ? args[0] : res.statusCode
}

/**
 * The status of a response whose writes could not all be made: 503 when the store is the
 * cause (unreachable, or full: the condition passes), else 500.
 */
function failureStatus (err) {
  return err instanceof StoreUnavailableError ? err.status : 500
}

/** Finish failed before the headers left: the writes were not all made, so the response fails. */
function failed (res, args, err) {
  reportFailure(err)
  const status = failureStatus(err)
  if (typeof args[0] === 'number' && args[0] < 500) args[0] = status
  if (res.statusCode < 500) res.statusCode = status
}

/** The writeHead hook (also reached by write() and end()): finish, or prepare on a networked store. */
function beforeHead (state, res, args) {
  if (state.done) return
  state.done = true
  const [outcome, refused] = outcomeOf(state, statusOf(res, args) >= 500)
  if (refused !== null) failed(res, args, refused)
  // From here on the handle is finish's: nothing else of this request may reach it.
  const live = state.live
  state.live = null
  if (state.mode.sync) {
    let r
    try {
      r = calls.finish(live, outcome)
    } catch (err) {
      return failed(res, args, err)
    }
    state.mode.bound.recycle(live)
    applyHeaders(res, r)
    if (r !== null && r.error !== null) failed(res, args, r.error)
    return
  }
  // The headers leave now: the tokens are minted here and finish stores them off the loop.
  let r
  try {
    r = calls.prepare(live, outcome)
  } catch (err) {
    return failed(res, args, err)
  }
  applyHeaders(res, r)
  const finished = calls.finishAsync(live, outcome).then((r) => {
    state.mode.bound.recycle(live)
    if (r !== null && r.error !== null) reportFailure(r.error)
  }, reportFailure)
  state.queue = finished
  finished.then(() => { if (state.queue === finished) state.queue = null })
}

/**
 * Run `f` once the writes queued before it are done (the body waits for finish). A write that
 * throws breaks the response: it is destroyed with that error, as a throwing write would.
 */
function enqueue (state, res, f) {
  const next = state.queue.then(f).then(undefined, (err) => { res.destroy(err) })
  state.queue = next
  next.then(() => { if (state.queue === next) state.queue = null })
}

/**
 * The write hook (networked stores): a body chunk waits for finish, so that no client sees the
 * whole response (a Content-Length body is complete at its last byte) before the writes are
 * made. Returns true if it took over the call.
 */
function beforeWrite (state, res, write, args) {
  if (state.mode.sync) return false
  if (!state.done && !res.headersSent) beforeHead(state, res, [res.statusCode])
  if (state.queue === null) return false
  enqueue(state, res, () => { write.apply(res, args) })
  return true
}

/**
 * The end hook (networked stores): finish first, then end the response. Returns true if it
 * took over the call.
 */
function beforeEnd (state, res, end, args) {
  if (state.mode.sync) return false
  if (!state.done && !res.headersSent) {
    state.done = true
    const fail = (err) => {
      reportFailure(err)
      if (!res.headersSent && res.statusCode < 500) res.statusCode = failureStatus(err)
    }
    const [outcome, refused] = outcomeOf(state, res.statusCode >= 500)
    if (refused !== null) fail(refused)
    const live = state.live
    state.live = null
    calls.finishAsync(live, outcome).then((r) => {
      state.mode.bound.recycle(live)
      if (!res.headersSent) applyHeaders(res, r)
      if (r !== null && r.error !== null) fail(r.error)
    }, fail).then(() => end.apply(res, args))
    return true
  }
  if (state.queue !== null) {
    enqueue(state, res, () => { end.apply(res, args) })
    return true
  }
  return false
}

/** A failure to save after the app answered: reported, never thrown into the response. */
function reportFailure (err) {
  process.emitWarning(`tessera: could not save the session: ${err && err.message}`,
    { type: 'TesseraSessionWarning', code: 'TESSERA_SAVE_FAILED' })
}

function isHttps (req) {
  return req.secure === true || Boolean(req.socket && req.socket.encrypted)
}

// ---------------------------------------------------------------------------------------------
// The middleware

/**
 * Session middleware. `options` are SessionManager options (camelCase), or `manager` to share
 * one, plus:
 *   - `userId(session)`: the user the session belongs to (the core's user, used by revokeUser,
 *     listUser, maxSessionsPerUser); a different one than the session's is a login, none where
 *     it had one a logout. Default: Passport's `session.passport.user`. Return undefined to
 *     say nothing.
 *   - `csrfHeader`: the request header carrying the CSRF token (default `x-csrf-token`).
 *   - `sync`: force synchronous (true) or off-the-loop (false) calls; default: synchronous
 *     exactly when the store is in-process.
 * With `dbsc: true` (a SessionManager option: device-bound sessions) the middleware also answers
 * `POST <dbscPathPrefix>/register` and `/refresh` (default prefix `/_tessera/dbsc`).
 */
function expressSession (options = {}) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('expressSession(options): options must be an object')
  }
  const { manager: given, userId, csrfHeader = 'x-csrf-token', sync, ...managerOptions } = options
  if (given !== undefined && !(given instanceof SessionManager)) {
    throw new TypeError('expressSession({ manager }): manager must be a SessionManager')
  }
  if (userId !== undefined && typeof userId !== 'function') {
    throw new TypeError('expressSession({ userId }): userId must be a function')
  }
  if (given !== undefined && Object.keys(managerOptions).length > 0) {
    throw new TypeError('expressSession: give either a manager or SessionManager options, not both')
  }
  const manager = given ?? new SessionManager(managerOptions)
  const mode = {
    sync: sync ?? !manager.isNetworked,
    userOf: userId ?? passportUser,
    manager,
    bound: calls.bind(manager),
    // A memory store under several processes: warned about once, and an unknown token then
    // says it was probably another worker's (lib/deployment.js). Rechecked if the pid changes.
    pid: process.pid,
    several: deployment.checkManager(manager)
  }
  if (mode.sync && manager.isNetworked) {
    throw new TypeError('expressSession({ sync: true }) needs an in-process store (memory://)')
  }
  const header = String(csrfHeader).toLowerCase()
  const bound = mode.bound
  // Device-bound sessions: the two endpoints are answered here, before any body parser or CSRF
  // check the app mounts after this middleware.
  const endpoints = dbscEndpoints(manager)

  if (mode.sync) {
    return function tesseraSession (req, res, next) {
      if (states.has(req)) return next()
      if (endpoints !== null) {
        const which = endpointOf(endpoints, req)
        if (which !== undefined) return answerDbsc(mode, which, req, res, next)
      }
      // Every property read on an Express request is a slow lookup (see below): each once.
      const headers = req.headers
      const candidate = headers[header]
      let begun
      try {
        begun = bound.begin(headers.cookie, isHttps(req), req.method, headers['user-agent'],
          typeof candidate === 'string' ? candidate : undefined)
      } catch (err) {
        return next(err) // store_unavailable or internal: fail closed
      }
      if (mode.several || begun[1].reason !== null) deploymentCheck(mode, begun[1])
      attach(req, res, new State(mode, begun[0], begun[1]))
      next()
    }
  }

  return function tesseraSessionAsync (req, res, next) {
    if (states.has(req)) return next()
    if (endpoints !== null) {
      const which = endpointOf(endpoints, req)
      if (which !== undefined) return answerDbsc(mode, which, req, res, next)
    }
    const headers = req.headers
    const candidate = headers[header]
    if (headers.cookie === undefined) {
      // Nothing to look up: begin makes no store call, so no hop off the event loop.
      let begun
      try {
        begun = bound.begin(undefined, isHttps(req), req.method, headers['user-agent'],
          typeof candidate === 'string' ? candidate : undefined)
      } catch (err) {
        return next(err)
      }
      attach(req, res, new State(mode, begun[0], begun[1]))
      return next()
    }
    let pending
    try {
      pending = bound.beginAsync(headers.cookie, isHttps(req), req.method, headers['user-agent'],
        typeof candidate === 'string' ? candidate : undefined)
    } catch (err) {
      return next(err)
    }
    pending.then((begun) => {
      if (mode.several || begun[1].reason !== null) deploymentCheck(mode, begun[1])
      attach(req, res, new State(mode, begun[0], begun[1]))
      next()
    }, next) // store_unavailable or internal: fail closed
  }
}

/**
 * After a begin whose cookie gave no session (or in a setup already known to be multi-process):
 * recheck the manager in a process other than the one that set the middleware up, and say so
 * when a well-formed token is unknown to a memory store that other processes cannot see.
 */
function deploymentCheck (mode, s) {
  if (mode.pid !== process.pid) {
    mode.pid = process.pid
    mode.several = deployment.checkManager(mode.manager)
  }
  if (mode.several && s.reason === 'unknown') deployment.unknownSession()
}

// ---------------------------------------------------------------------------------------------
// Attaching to req and res
//
// Express moves every request and response onto its app's prototype (Object.setPrototypeOf),
// after which V8 gives each property added to the object a new hidden class: a map and a
// descriptor array copied in the old generation, inline caches that never settle, and more
// major collections. Measured here on whole Express requests in process: two added symbol
// properties doubled the bytes allocated per request (33 → 72 KB) and cost ~20 µs. So the
// middleware adds none. A WeakMap keyed by the request holds its State (which refers to
// neither req nor res, so that a young-generation collection keeps little alive); `session`, `sessionID`, `csrfToken` and `tessera`
// are accessors, and `writeHead`/`write`/`end` hooks, installed once on Express's shared request and
// response prototypes (the objects right above http.IncomingMessage.prototype and
// http.ServerResponse.prototype). They read the WeakMap: for a request Tessera did not handle
// they act as plain properties (a setter stores an own property; the hooks pass through).
// Without Express (the objects directly on Node's prototypes, where additions are cheap) the
// same accessors and hooks are defined on each object. Each property read on an Express
// request or response is itself a slow lookup (its hidden class is unique, so inline caches
// miss): the hot path reads each one once.

const states = new WeakMap() // req → State (a response finds it through res.req)
const kInstalled = Symbol('tessera.installed')

function own (obj, key, value) {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
}

const REQUEST_PROPS = {
  session: {
    configurable: true,
    get () {
      const s = states.get(this)
      return s === undefined ? undefined : s.session
    },
    set (value) {
      const s = states.get(this)
      if (s === undefined) own(this, 'session', value)
      else s.session = value
    }
  },
  sessionID: {
    configurable: true,
    get () {
      const s = states.get(this)
      if (s === undefined) return undefined
      if (s.sessionID !== undefined) return s.sessionID
      return s.destroyed ? undefined : s.sessionId()
    },
    set (value) {
      const s = states.get(this)
      if (s === undefined) own(this, 'sessionID', value)
      else s.sessionID = value
    }
  },
  tessera: {
    configurable: true,
    get () {
      const s = states.get(this)
      if (s === undefined) return undefined
      if (s.api === null) s.api = new RequestApi(s)
      return s.api
    },
    set (value) { own(this, 'tessera', value) }
  },
  csrfToken: { configurable: true, writable: true, value: csrfToken },
  [kInstalled]: { value: true, configurable: true }
}

/** The writeHead/end hooks, around the methods `target` has now. */
function responseProps (target) {
  const originalWriteHead = target.writeHead
  const originalWrite = target.write
  const originalEnd = target.end
  return {
    writeHead: {
      configurable: true,
      writable: true,
      value: function writeHead (...args) {
        const s = states.get(this.req)
        if (s !== undefined) beforeHead(s, this, args)
        return originalWriteHead.apply(this, args)
      }
    },
    write: {
      configurable: true,
      writable: true,
      value: function write (...args) {
        const s = states.get(this.req)
        if (s !== undefined && beforeWrite(s, this, originalWrite, args)) return true
        return originalWrite.apply(this, args)
      }
    },
    end: {
      configurable: true,
      writable: true,
      value: function end (...args) {
        const s = states.get(this.req)
        if (s !== undefined && beforeEnd(s, this, originalEnd, args)) return this
        return originalEnd.apply(this, args)
      }
    },
    [kInstalled]: { value: true, configurable: true }
  }
}

/** The object right above `root` in `obj`'s prototype chain (Express's shared prototype), or null. */
function sharedProto (obj, root) {
  let below = null
  let p = Object.getPrototypeOf(obj)
  while (p !== null && p !== root) {
    below = p
    p = Object.getPrototypeOf(p)
  }
  return p === root ? below : null
}

/** Make `state` the request's and the response's, and the accessors and hooks reachable. */
// The prototypes of the last request and response whose accessors and hooks were found on a
// shared prototype: comparing prototypes is cheaper than looking kInstalled up each time.
let knownReqProto = null
let knownResProto = null

function attach (req, res, state) {
  states.set(req, state)
  const reqProto = Object.getPrototypeOf(req)
  if (reqProto !== knownReqProto) {
    const shared = sharedProto(req, http.IncomingMessage.prototype)
    if (shared === null) {
      Object.defineProperties(req, REQUEST_PROPS) // not Express: on the object itself
    } else {
      if (shared[kInstalled] !== true) Object.defineProperties(shared, REQUEST_PROPS)
      knownReqProto = reqProto
    }
  }
  const resProto = Object.getPrototypeOf(res)
  if (resProto !== knownResProto) {
    const shared = sharedProto(res, http.ServerResponse.prototype)
    if (shared === null || shared[kInstalled] !== true) {
      if (shared !== null) Object.defineProperties(shared, responseProps(shared))
      // A middleware that ran before this first install wrapped the methods without the
      // shared hooks (or there is no shared prototype): this response gets hooks of its own,
      // around what it has now.
      Object.defineProperties(res, responseProps(res))
    }
    if (shared !== null) knownResProto = resProto
  }
}

/** `req.csrfToken()`: a fresh token for forms and headers, on any store (no store call). */
function csrfToken () {
  const state = states.get(this)
  if (!state) throw new Error('req.csrfToken() needs the expressSession() middleware first')
  return csrfTokenOf(state)
}

function csrfTokenOf (state) {
  if (state.done) throw new Error('req.csrfToken(): the response has already been sent')
  return calls.step(state.live, STEP.CSRF_TOKEN)
}

/** `req.tessera`: Tessera-specific operations for this request. */
class RequestApi {
  #state
  constructor (state) { this.#state = state }
  /** The core's user of this session as the request began (null if anonymous). */
  get user () { return this.#state.user }
  /** When the session ends if unused (ms since the epoch), or null. */
  get expiresAt () { return this.#state.expiresAt }
  /** The manager behind the middleware. */
  get manager () { return this.#state.mode.manager }

  /**
   * Sign `user` in when the response goes out: a new token (the old one dies at once), a new
   * CSRF secret, a fresh absolute deadline — also for the user already signed in. For apps
   * that do not use Passport.
   */
  login (user, authn) {
    if (typeof user !== 'string' || user === '') throw new TypeError('req.tessera.login(user): user must be a non-empty string')
    if (authn !== undefined) this.authn = authn
    this.#state.login = user
  }

  /**
   * How strongly the sign-in made by this request authenticated, `{ level, amr }` (level 1 one
   * factor, 2 several: the app's scale; amr RFC 8176 names), for step-up (`requireRecent`).
   * Read when the response goes out, for a login of this request: `req.tessera.login(user,
   * authn)`, or Passport's `req.login` (set it after `passport.authenticate`). Default: one factor.
   */
  set authn (authn) {
    const text = authnText(authn, 'req.tessera.authn')
    native.__checkAuthn(text)
    this.#state.authn = authn === null || authn === undefined ? null : text
  }

  get authn () {
    const text = this.#state.authn
    return text === null ? null : JSON.parse(text)
  }

  /**
   * Why the request has no session although it carried a session cookie, or null:
   * `'binding_missing'` (a device-bound session this request did not prove: its owner's
   * browser can still use it), `'unknown'`, `'expired_idle'`, `'expired_absolute'`, `'malformed'`.
   */
  get reason () { return this.#state.reason }

  /** How this request proved its session's device: `'unbound'`, `'pending'`, `'fresh'`, or null. */
  get binding () { return this.#state.binding }

  /**
   * When and how strongly the user last authenticated: `{ at, level, amr }` (`at` in ms since
   * the epoch: the sign-in or the latest re-authentication), or null while anonymous.
   */
  get authenticated () {
    const state = this.#state
    if (state.authenticated === undefined) {
      if (state.done) return null
      const text = calls.step(state.live, STEP.AUTHENTICATED)
      state.authenticated = text === '' ? null : authenticatedOf(JSON.parse(text))
    }
    return state.authenticated
  }

  /**
   * Whether a sensitive operation may go ahead: `'allowed'` (the user authenticated less than
   * `maxAgeMs` ago with at least `minLevel`, default 1), `'stale'` or `'level'` (send them to
   * re-authenticate), `'anonymous'` (sign in first). No store call. `requireRecent()` is the
   * middleware form.
   */
  requireRecent (maxAgeMs, minLevel = 1) {
    return freshness(this.#state, maxAgeMs, minLevel, 'req.tessera.requireRecent')
  }

  /** `req.session.reauthenticate(authn)`. */
  reauthenticate (authn) { return this.#state.reauthenticate(authn) }

  /** `req.session.offerBinding()`. */
  offerBinding () { return this.#state.offerBinding() }

  /** End this session now (its token dies at once); the request goes on with a new, empty one. */
  logout () {
    const state = this.#state
    return new Promise((resolve, reject) => {
      state.run(STEP.LOGOUT, undefined, (err, s) => {
        if (err) return reject(err)
        state.adopt(s)
        state.login = null
        state.session = newSession(state, null)
        resolve()
      })
    })
  }

  /** A CSRF token for this session (as `req.csrfToken()`). */
  csrfToken () {
    return csrfTokenOf(this.#state)
  }
}

/** The core's authentication `{at, level, amr}` as JavaScript shows it. */
function authenticatedOf (a) {
  return { at: a.at, level: a.level, amr: a.amr ?? [] }
}

/** The core's step-up verdict for the request of `state` (no store call). */
function freshness (state, maxAgeMs, minLevel, what) {
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) throw new RangeError(`${what}: maxAgeMs must be a whole number of ms ≥ 0`)
  if (!Number.isInteger(minLevel) || minLevel < 0 || minLevel > 255) throw new RangeError(`${what}: minLevel must be a whole number from 0 to 255`)
  if (state.done) throw new Error(`${what}: the response has already been sent`)
  return calls.step(state.live, STEP.REQUIRE_RECENT, `${maxAgeMs} ${minLevel}`)
}

// ---------------------------------------------------------------------------------------------
// Device-bound sessions: the two endpoints

/** The endpoint of `manager` a request's path names, by full path (query left out). */
function dbscEndpoints (manager) {
  const prefix = manager.dbscPathPrefix
  if (prefix === null) return null
  return new Map([[`${prefix}/register`, 'register'], [`${prefix}/refresh`, 'refresh']])
}

/** The endpoint `req` asks for, or undefined. Matched on the whole URL path, whatever the mount. */
function endpointOf (endpoints, req) {
  const url = typeof req.originalUrl === 'string' ? req.originalUrl : req.url
  const q = url.indexOf('?')
  return endpoints.get(q < 0 ? url : url.slice(0, q))
}

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/

/**
 * This site's origin as the framework resolves it, for the session config's scope: Express's
 * `req.protocol` and `req.host` (Express 5: with the port; both honour `trust proxy`), else the
 * transport and the Host header. Undefined when the host is not a host (the `dbscOrigin`
 * option then has to be set).
 */
function originOf (req) {
  const scheme = typeof req.protocol === 'string' ? req.protocol : (isHttps(req) ? 'https' : 'http')
  const host = typeof req.host === 'string' ? req.host : req.headers.host
  if (typeof host !== 'string' || !HOST.test(host)) return undefined
  return `${scheme}://${host.toLowerCase()}`
}

/** Answer a DBSC endpoint with the core's whole response. */
function answerDbsc (mode, which, req, res, next) {
  const headers = req.headers
  const header = (name) => typeof headers[name] === 'string' ? headers[name] : undefined
  const request = {
    cookieHeader: header('cookie'),
    https: isHttps(req),
    method: req.method,
    origin: originOf(req),
    sessionId: header('sec-secure-session-id'),
    proof: header('secure-session-response')
  }
  const manager = mode.manager
  const send = (r) => {
    res.statusCode = r.status
    const cookies = []
    for (const [name, value] of r.headers) {
      if (name.toLowerCase() === 'set-cookie') cookies.push(value)
      else res.setHeader(name, value)
    }
    if (cookies.length > 0) res.setHeader('Set-Cookie', cookies)
    res.end(r.body)
  }
  const failed = (err) => {
    // The store cannot be reached: 503, which Chrome takes as transient (it keeps its DBSC
    // session and tries later). No origin (a Host header that is no host, and no dbscOrigin):
    // 400, refused before anything was read or written. Anything else is the app's error
    // handler's.
    let status
    if (err instanceof StoreUnavailableError) status = err.status
    else if (err instanceof InvalidArgumentError && request.origin === undefined) status = 400
    else return next(err)
    res.statusCode = status
    res.setHeader('Cache-Control', 'no-store')
    res.setHeader('Content-Type', 'application/json')
    res.end(JSON.stringify({ error: status === 400 ? 'no_origin' : err.code }))
  }
  if (mode.sync) {
    let r
    try {
      r = which === 'register' ? manager.dbscRegisterSync(request) : manager.dbscRefreshSync(request)
    } catch (err) {
      return failed(err)
    }
    return send(r)
  }
  const pending = which === 'register' ? manager.dbscRegister(request) : manager.dbscRefresh(request)
  pending.then(send, failed)
}

// ---------------------------------------------------------------------------------------------
// Guards

/** Whether the request prefers JSON to a page (`Accept: application/json`). */
function wantsJson (req) {
  if (typeof req.accepts === 'function') return req.accepts(['html', 'json']) === 'json'
  const accept = req.headers.accept
  return typeof accept === 'string' && accept.includes('application/json') && !accept.includes('text/html')
}

/**
 * Refuse a request: a page request goes to `url` with `next=` (the request's own path and
 * query), when there is one; a JSON request (or one with nowhere to go) gets 401
 * `{ error, reason }`.
 */
function refuse (req, res, url, error, reason) {
  res.setHeader('Cache-Control', 'no-store')
  if (url && !wantsJson(req)) {
    const here = typeof req.originalUrl === 'string' ? req.originalUrl : req.url
    res.statusCode = 302
    res.setHeader('Location', `${url}${url.includes('?') ? '&' : '?'}next=${encodeURIComponent(here)}`)
    return res.end()
  }
  res.statusCode = 401
  res.setHeader('Content-Type', 'application/json')
  res.end(JSON.stringify({ error, reason }))
}

function guardUrl (value, what) {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string (a path or URL)`)
  return value
}

function guardOptions (options, what) {
  if (options === null || typeof options !== 'object') throw new TypeError(`${what}: options must be an object`)
  return options
}

/**
 * Let through only requests of a signed-in session proved by this device (device-bound
 * sessions: `req.session.binding` is `'fresh'` or `'pending'`). An anonymous request — a
 * `binding_missing` one included — gets the login flow: a redirect to `loginUrl` (with `next=`)
 * for pages, 401 `{"error":"login_required","reason":…}` for JSON (or without a `loginUrl`).
 * A signed-in session that is not device-bound gets the same, with error
 * `binding_required` and reason `unbound`.
 */
function requireBound (options = {}) {
  const loginUrl = guardUrl(guardOptions(options, 'requireBound').loginUrl, 'requireBound({ loginUrl })')
  return function tesseraRequireBound (req, res, next) {
    const state = states.get(req)
    if (!state) return next(new Error('requireBound() needs the expressSession() middleware first'))
    if (state.user === null) return refuse(req, res, loginUrl, 'login_required', state.reason ?? 'anonymous')
    if (state.binding !== 'fresh' && state.binding !== 'pending') {
      return refuse(req, res, loginUrl, 'binding_required', 'unbound')
    }
    next()
  }
}

/**
 * Step-up: let through only a user who authenticated less than `maxAgeMs` ago with at least
 * `minLevel` (default 1). Otherwise pages go to `reauthUrl` (with `next=`) and JSON requests
 * (or all, without a `reauthUrl`) get 401 `{"error":"reauthentication_required","reason":
 * "stale"|"level"}`; an anonymous request gets the login flow of `requireBound` (`loginUrl`).
 * No store call.
 */
function requireRecent (options) {
  const { maxAgeMs, minLevel = 1, reauthUrl, loginUrl } = guardOptions(options, 'requireRecent')
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) throw new RangeError('requireRecent({ maxAgeMs }): a whole number of ms ≥ 0')
  if (!Number.isInteger(minLevel) || minLevel < 0 || minLevel > 255) throw new RangeError('requireRecent({ minLevel }): a whole number from 0 to 255')
  const reauth = guardUrl(reauthUrl, 'requireRecent({ reauthUrl })')
  const login = guardUrl(loginUrl, 'requireRecent({ loginUrl })')
  return function tesseraRequireRecent (req, res, next) {
    const state = states.get(req)
    if (!state) return next(new Error('requireRecent() needs the expressSession() middleware first'))
    let verdict
    try {
      verdict = freshness(state, maxAgeMs, minLevel, 'requireRecent()')
    } catch (err) {
      return next(err)
    }
    if (verdict === 'allowed') return next()
    if (verdict === 'anonymous') return refuse(req, res, login, 'login_required', state.reason ?? 'anonymous')
    refuse(req, res, reauth, 'reauthentication_required', verdict)
  }
}

// ---------------------------------------------------------------------------------------------
// CSRF

/**
 * Reject the requests the core's CSRF verdict refuses (an unsafe method without a valid token
 * of the session in the `x-csrf-token` header) unless a `_csrf` body field (parse the body
 * first) or `header` carries a valid one. Rejection: 403 with a plain-text reason, or
 * `onReject(req, res, next)`.
 */
function csrfProtection (options = {}) {
  const { header = 'x-csrf-token', field = '_csrf', onReject } = options
  const name = String(header).toLowerCase()
  const reject = onReject || function (req, res) {
    const message = 'Forbidden: this request needs a valid CSRF token (from req.csrfToken()) ' +
      `in the ${name} header or the ${field} form field`
    res.statusCode = 403
    res.setHeader('Content-Type', 'text/plain; charset=utf-8')
    res.setHeader('Cache-Control', 'no-store')
    res.end(message)
  }
  return function tesseraCsrf (req, res, next) {
    const state = states.get(req)
    if (!state) return next(new Error('csrfProtection() needs the expressSession() middleware first'))
    if (state.csrf !== '0') return next() // not needed, or valid
    if (state.done) return next(new Error('csrfProtection(): the response has already been sent'))
    const candidates = [req.headers[name], req.body && req.body[field]]
    let ok = false
    try {
      for (const c of candidates) {
        if (typeof c === 'string' && calls.step(state.live, STEP.VERIFY_CSRF, c) === '1') ok = true
      }
    } catch (err) {
      return next(err)
    }
    if (ok) return next()
    reject(req, res, next)
  }
}

module.exports = { expressSession, csrfProtection, requireBound, requireRecent, Session }
