'use strict'
// Express glue: expressSession() gives every request a `req.session` with the shape Express
// users and Passport rely on, backed by the Tessera core; csrfProtection() rejects unsafe
// requests without a valid CSRF token.
//
// Per request, one native call (a free function of lib/fast.js, not a class method) reads the
// cookie, validates the token (rotating it on the core's schedule), verifies a CSRF header and
// returns one compact string. The session's data arrives as JSON text and is parsed only if the
// request reads `req.session` (a Proxy loads it on first use); a request that never did cannot
// have changed it, so nothing is compared or written for it. Changes are written just before
// the response headers go out: only the keys that changed, in one store call (an atomic patch),
// so two concurrent requests that change different keys do not overwrite each other.
//
// With an in-process store (memory://) every call is synchronous: a thread-pool hop would cost
// more than the work. With a networked store every call is a Promise (the event loop never
// blocks) and changes are written when the response ends.
//
// The middleware adds no property to `req` or `res` (see "Attaching to req and res" below):
// on Express's objects each added property costs a new hidden class, every request.

const http = require('node:http')
const util = require('node:util')
const { SessionManager } = require('./native.js')
const { makeError } = require('./errors.js')
const fastCalls = require('./fast.js')

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])
const kState = Symbol('tessera.state') // on a session's target: the request's State
const kPending = Symbol('tessera.pending') // on a session's target: data JSON not yet loaded, or null
const kFlags = Symbol('tessera.flags') // on a session's target: CHANGED | NESTED
const CHANGED = 1 // a data key was set, deleted or defined through req.session
const NESTED = 2 // some value is an object or array, which can change without a trap
const kTarget = Symbol('tessera.target') // read through the Proxy: its target

// ---------------------------------------------------------------------------------------------
// req.session

/** Per-request state, kept out of sight of the session's data (and of loggers). */
class State {
  constructor (manager, mode, https, userAgent) {
    this.manager = manager
    this.fast = mode.fast
    this.sync = mode.sync
    this.userOf = mode.userOf
    this.clearCookie = mode.clearCookie
    // No reference to req or res: the State is a WeakMap value keyed by req, and a young
    // generation collection keeps such values alive whenever the key is (cheap only if small).
    this.https = https
    this.userAgent = userAgent
    this.token = null // the token the client holds, if the session exists
    this.id = null // the public id
    this.user = null // the core's user
    this.base = '{}' // the data as last loaded or written, JSON
    this.hadCookie = false // the request carried a session cookie
    this.cookie = null // Set-Cookie value to send at the end
    this.csrf = null // a CSRF token minted with the validation (async mode)
    this.csrfValid = false // the x-csrf-token header was checked and is valid
    this.expiresAt = null
    this.done = false // changes written and headers set
    this.destroyed = false
    this.session = undefined // req.session
    this.sessionID = undefined // req.sessionID if the app assigned one
    this.api = null // req.tessera, made on first use
  }

  /** Adopt a session result of the public API (create, login, validate). */
  adopt (r, token) {
    this.token = token
    this.id = r.id
    this.user = r.user ?? null
    this.base = JSON.stringify(r.data ?? {})
    this.expiresAt = r.expiresAt ?? null
    if (r.setCookie) this.cookie = r.setCookie
  }

  /** Adopt the per-request result of lib/fast.js. */
  adoptRequest (r) {
    this.token = r.token
    this.id = r.id
    this.user = r.user
    this.base = r.dataJson === '' ? '{}' : r.dataJson
    this.expiresAt = r.expiresAt
    if (r.setCookie !== null) this.cookie = r.setCookie
  }

  /** Forget the session (it was ended); the browser's cookie is cleared unless a new one is set. */
  forget () {
    this.token = null
    this.id = null
    this.user = null
    this.base = '{}'
    this.expiresAt = null
    this.cookie = this.hadCookie ? this.clearCookie : null
  }

  context (extra) {
    return { https: this.https, userAgent: this.userAgent, ...extra }
  }
}

// Names of req.session's methods and accessors, and `__proto__`: never data keys.
const RESERVED = new Set(['id', 'cookie', 'regenerate', 'destroy', 'save', 'reload', 'touch', 'resetMaxAge', '__proto__'])

/**
 * The target behind `req.session`: the session's data as own properties (loaded from JSON on
 * first use, see HANDLER), plus express-session's methods. Data values must be
 * JSON-compatible; they are compared and saved key by key.
 */
class Session {
  constructor (state, json) {
    this[kState] = state
    this[kPending] = json // JSON text not parsed yet ('' for none), or null once loaded
    this[kFlags] = 0
  }

  /** The session's public id (64 hex digits), or null while it has not been created. */
  get id () { return this[kState].id }

  /** express-session's cookie settings; Tessera's cookie is configured on the manager. */
  get cookie () {
    const s = this[kState]
    return { maxAge: null, expires: null, originalMaxAge: null, httpOnly: true, path: '/', expiresAt: s.expiresAt }
  }

  /**
   * End this session now (its token dies at once) and start a fresh, empty one. Passport calls
   * this at login and logout, which closes session fixation.
   */
  regenerate (cb) {
    const state = this[kState]
    const next = newSession(state, null)
    const ended = state.token
    const finish = (err) => {
      if (!err) {
        state.forget()
        state.session = next
      }
      if (cb) process.nextTick(cb, err || undefined)
    }
    return settle(() => ended ? call(state, 'logout', ended) : null, finish)
  }

  /** End this session now; `req.session` is removed and the cookie cleared. */
  destroy (cb) {
    const state = this[kState]
    const ended = state.token
    return settle(() => ended ? call(state, 'logout', ended) : null, (err) => {
      if (!err) {
        state.forget()
        state.destroyed = true
        state.session = undefined
      }
      if (cb) process.nextTick(cb, err || undefined)
    })
  }

  /**
   * Write the changes now (they are also written before the response headers go out). A new
   * anonymous session is created then, not here, so a save followed by regenerate (Passport's
   * logout) does not create a session only to end it.
   */
  save (cb) {
    const state = this[kState]
    return settle(() => commit(state, this, false), (err) => { if (cb) process.nextTick(cb, err || undefined) })
  }

  /** Reload the data from the store, dropping unsaved changes. */
  reload (cb) {
    const state = this[kState]
    if (!state.token) {
      if (cb) process.nextTick(cb)
      return
    }
    return settle(() => call(state, 'validate', state.token, state.context()), (err, r) => {
      if (!err && !r.valid) err = makeError(r.reason, 'the session has ended')
      if (!err) {
        for (const key of Object.keys(this)) delete this[key]
        state.adopt(r, r.newToken ?? state.token)
        const data = r.data ?? {}
        for (const key of Object.keys(data)) if (!RESERVED.has(key)) this[key] = data[key]
      }
      if (cb) process.nextTick(cb, err || undefined)
    })
  }

  /** Validation already moved the idle deadline; nothing to do. */
  touch () { return this }

  /** Tessera's cookie has no Max-Age of its own to reset. */
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
  if (json === null || json === undefined) return
  t[kPending] = null
  if (json === '' || json === '{}') return
  const data = JSON.parse(json)
  let nested = false
  for (const key of Object.keys(data)) {
    if (RESERVED.has(key)) continue
    const value = data[key]
    if (value !== null && typeof value === 'object') nested = true
    t[key] = value
  }
  if (nested) t[kFlags] |= NESTED
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
    return Reflect.ownKeys(t).filter((k) => k !== kState && k !== kPending && k !== kFlags)
  },
  getOwnPropertyDescriptor (t, key) {
    if (key === kState || key === kPending || key === kFlags) return undefined
    if (typeof key !== 'symbol') load(t)
    return Reflect.getOwnPropertyDescriptor(t, key)
  }
}

/** A `req.session` for `state` whose data is the JSON text `json` ('' or null for none). */
function newSession (state, json) {
  return new Proxy(new Session(state, json), HANDLER)
}

// ---------------------------------------------------------------------------------------------
// Writing changes

/** The user Passport (≥ 0.6) keeps in the session: undefined when Passport is not in use. */
function passportUser (session) {
  const p = session.passport
  if (p === undefined) return undefined
  const u = p && p.user
  if (u === undefined || u === null) return null
  return typeof u === 'string' ? u : typeof u === 'object' ? JSON.stringify(u) : String(u)
}

const NO_STEPS = Object.freeze([])

/**
 * Decide what to write: a login if the session's user changed, an end if it went away, then
 * the data keys that differ from what was last written. A session whose data was never read
 * by this request has not changed, nor one only read whose values are all primitives (objects
 * and arrays can change in place, so those are compared as JSON).
 */
function plan (state, session) {
  const t = session[kTarget] ?? session
  const pending = t[kPending]
  if (pending !== null && pending !== undefined) return NO_STEPS
  // Loaded but untouched, and every value a primitive: nothing can have changed.
  if (t[kFlags] === 0) return NO_STEPS
  const steps = []
  let base = state.base
  const user = state.userOf(session)
  if (typeof user === 'string' && user !== state.user) {
    steps.push({ op: 'login', user })
    base = null // the data after login comes back from the core
  } else if (user === null && state.user !== null) {
    steps.push({ op: 'end' })
    base = '{}'
  }
  const current = JSON.stringify(t)
  if (current !== base) steps.push({ op: 'data', current })
  return steps
}

/**
 * The per-key changes from `baseJson` to `currentJson`: `setJson`, the JSON text of an object
 * of the keys to set (or null), and `remove`, the keys to delete.
 */
function diff (baseJson, currentJson) {
  const before = JSON.parse(baseJson)
  const after = JSON.parse(currentJson)
  const set = []
  const remove = []
  let count = 0
  for (const key of Object.keys(after)) {
    if (RESERVED.has(key)) continue
    count++
    const value = JSON.stringify(after[key])
    if (!Object.prototype.hasOwnProperty.call(before, key) || JSON.stringify(before[key]) !== value) {
      set.push(JSON.stringify(key) + ':' + value)
    }
  }
  for (const key of Object.keys(before)) {
    if (!RESERVED.has(key) && !Object.prototype.hasOwnProperty.call(after, key)) remove.push(key)
  }
  return { setJson: set.length ? '{' + set.join(',') + '}' : null, remove, empty: count === 0 }
}

/** Carry out one step; returns a value or a Promise, following the state's mode. */
function step (state, s, ctx, create) {
  if (s.op === 'login') {
    return then(call(state, 'login', state.token, s.user, ctx), (r) => state.adopt(r, r.newToken))
  }
  if (s.op === 'end') {
    const token = state.token
    return then(call(state, 'logout', token), () => state.forget())
  }
  // data
  const { setJson, remove, empty } = diff(state.base, s.current)
  if (state.token) {
    if (setJson === null && remove.length === 0) {
      state.base = s.current
      return undefined
    }
    const id = state.id
    const removed = remove.length ? remove : null
    const saved = state.sync ? state.fast.saveSync(id, setJson, removed) : state.fast.save(id, setJson, removed)
    return then(saved, () => { state.base = s.current })
  }
  if (empty || !create) return undefined
  return then(call(state, 'create', null, JSON.parse(setJson ?? '{}'), ctx), (r) => state.adopt(r, r.newToken))
}

/**
 * Write what changed; a value in sync mode, a Promise in async mode. `create`: whether data
 * of a visitor without a session creates one now.
 */
function commit (state, session, create = true) {
  if (state.destroyed) return undefined
  const steps = plan(state, session)
  if (steps.length === 0) return undefined
  const ctx = state.context()
  if (state.sync) {
    for (const s of steps) step(state, s, ctx, create)
    return undefined
  }
  return steps.reduce((p, s) => p.then(() => step(state, s, ctx, create)), Promise.resolve())
}

/** `manager[op](...)`, synchronously or as a Promise. */
function call (state, op, ...args) {
  return state.sync ? state.manager[op + 'Sync'](...args) : state.manager[op](...args)
}

function then (value, f) {
  return value instanceof Promise ? value.then(f) : f(value)
}

/** Run `work()` (which returns a value or a Promise, or throws) and call `done(err, value)`. */
function settle (work, done) {
  let value
  try {
    value = work()
  } catch (err) {
    return done(err)
  }
  if (value instanceof Promise) {
    return value.then((v) => done(null, v), (e) => done(e))
  }
  return done(null, value)
}

function appendCookie (res, cookie) {
  const prev = res.getHeader('set-cookie')
  res.setHeader('Set-Cookie', prev === undefined ? cookie : [].concat(prev, cookie))
  res.setHeader('Cache-Control', 'no-store')
}

function isHttps (req) {
  return req.secure === true || Boolean(req.socket && req.socket.encrypted)
}

/** A write that failed after the response started: it cannot reach the client, so it is reported. */
function reportLateFailure (err) {
  // A session that ended while the request was in flight is not re-created: expected, silent.
  if (err && ['unknown', 'expired_idle', 'expired_absolute', 'malformed'].includes(err.code)) return
  process.emitWarning(`tessera: could not save the session before responding: ${err && err.message}`,
    { type: 'TesseraSessionWarning', code: 'TESSERA_SAVE_FAILED' })
}

// ---------------------------------------------------------------------------------------------
// The middleware

/**
 * Session middleware. `options` are SessionManager options (camelCase), or `manager` to share
 * one, plus:
 *   - `userId(session)`: the user the session belongs to, to keep the core's user (used by
 *     revokeUser, listUser, maxSessionsPerUser) in step with the app. Default: Passport's
 *     `session.passport.user`. Return undefined to leave the core's user alone.
 *   - `csrfHeader`: the request header carrying the CSRF token (default `x-csrf-token`).
 *   - `sync`: force synchronous (true) or Promise (false) calls; default: synchronous exactly
 *     when the store is in-process.
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
    fast: fastCalls.bind(manager),
    clearCookie: manager.clearCookie()
  }
  if (mode.sync && manager.isNetworked) {
    throw new TypeError('expressSession({ sync: true }) needs an in-process store (memory://)')
  }
  const header = String(csrfHeader).toLowerCase()
  const fast = mode.fast

  function begin (req, res, r, https, headers) {
    const state = new State(manager, mode, https, headers['user-agent'])
    state.hadCookie = r.reason !== undefined || r.valid
    if (r.valid) {
      state.adoptRequest(r)
      state.csrfValid = r.csrfValid === true
      state.csrf = r.csrfToken
    } else if (r.reason !== undefined) {
      state.cookie = mode.clearCookie // a dead or ambiguous cookie
    }
    state.session = newSession(state, r.valid ? r.dataJson : '')
    attach(req, res, state)
    return state
  }

  /** The CSRF header of an unsafe request, if it carries one. */
  function candidateOf (safe, headers) {
    if (safe) return undefined
    const value = headers[header]
    return typeof value === 'string' ? value : undefined
  }

  if (mode.sync) {
    return function tesseraSession (req, res, next) {
      if (states.has(req)) return next()
      // Every property read on an Express request is a slow lookup (see below): each once.
      const headers = req.headers
      const https = isHttps(req)
      let r
      try {
        r = fast.requestSync(headers.cookie, https, candidateOf(SAFE_METHODS.has(req.method), headers))
      } catch (err) {
        return next(err) // store_unavailable or internal: fail closed
      }
      begin(req, res, r, https, headers)
      next()
    }
  }

  return function tesseraSessionAsync (req, res, next) {
    if (states.has(req)) return next()
    const headers = req.headers
    const https = isHttps(req)
    const safe = SAFE_METHODS.has(req.method)
    let pending
    try {
      pending = fast.request(headers.cookie, https, candidateOf(safe, headers), safe)
    } catch (err) {
      return next(err)
    }
    pending.then((r) => {
      begin(req, res, r, https, headers)
      next()
    }, next) // store_unavailable or internal: fail closed
  }
}

function finishHeaders (res, state) {
  if (state.cookie && !res.headersSent) {
    appendCookie(res, state.cookie)
    state.cookie = null
  }
}

/** Called by the writeHead hook: write the changes (synchronous mode) and set the cookie. */
function beforeHead (state, res) {
  if (state.sync && !state.done) {
    state.done = true
    try {
      const session = state.session
      if (session) commit(state, session)
    } catch (err) {
      reportLateFailure(err)
    }
  }
  finishHeaders(res, state)
}

/**
 * Called by the end hook (Promise mode): write the changes first, then end the response.
 * Returns true if it took over the call.
 */
function beforeEnd (state, res, end, args) {
  if (state.sync || state.done || res.headersSent) return false
  state.done = true
  const session = state.session
  Promise.resolve(session ? commit(state, session) : undefined)
    .catch(reportLateFailure)
    .then(() => { finishHeaders(res, state); end.apply(res, args) })
  return true
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
// are accessors, and `writeHead`/`end` hooks, installed once on Express's shared request and
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
      return s.destroyed ? undefined : s.id
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
  const originalEnd = target.end
  return {
    writeHead: {
      configurable: true,
      writable: true,
      value: function writeHead (...args) {
        const s = states.get(this.req)
        if (s !== undefined) beforeHead(s, this)
        return originalWriteHead.apply(this, args)
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

/** `req.csrfToken()`: a fresh token for forms and headers (creates the session if needed). */
function csrfToken () {
  const state = states.get(this)
  if (!state) throw new Error('req.csrfToken() needs the expressSession() middleware first')
  return csrfTokenOf(state)
}

function csrfTokenOf (state) {
  if (state.sync) {
    if (!state.token && state.session) {
      // A CSRF token belongs to a session: an anonymous visitor gets one now.
      const r = state.manager.createSync(null, null, state.context())
      state.adopt(r, r.newToken)
    }
    return state.manager.csrfTokenSync(state.token)
  }
  if (state.csrf) return state.csrf
  throw new Error('req.csrfToken(): with a networked store a token is minted with the request ' +
    'for GET/HEAD pages of an existing session; call `await req.tessera.csrfToken()` instead')
}

/** `req.tessera`: Tessera-specific operations for this request (always Promises). */
class RequestApi {
  #state
  constructor (state) { this.#state = state }
  /** The core's user of this session (null if anonymous). */
  get user () { return this.#state.user }
  /** When the session ends if unused (ms since the epoch), or null. */
  get expiresAt () { return this.#state.expiresAt }
  /** The manager behind the middleware. */
  get manager () { return this.#state.manager }

  /**
   * Log `user` in on this session: new token at once (the old one dies), new CSRF secret,
   * data kept from an anonymous session. For apps that do not use Passport.
   */
  async login (user) {
    const state = this.#state
    const session = state.session
    if (session) await commit(state, session) // pending changes first
    const r = await call(state, 'login', state.token, user, state.context())
    state.adopt(r, r.newToken)
    if (session) {
      for (const key of Object.keys(session)) delete session[key]
      const data = r.data ?? {}
      for (const key of Object.keys(data)) if (!RESERVED.has(key)) session[key] = data[key]
    }
    return r
  }

  /** End this session (the token dies at once); the request continues anonymously. */
  async logout () {
    const state = this.#state
    await new Promise((resolve, reject) => {
      if (!state.session) return resolve()
      state.session.regenerate((err) => err ? reject(err) : resolve())
    })
  }

  /** A CSRF token, whatever the store. */
  async csrfToken () {
    const state = this.#state
    if (state.sync) return csrfTokenOf(state)
    if (!state.token) {
      const r = await state.manager.create(null, null, state.context())
      state.adopt(r, r.newToken)
    }
    return state.manager.csrfToken(state.token)
  }
}

// ---------------------------------------------------------------------------------------------
// CSRF

/**
 * Reject unsafe requests (anything but GET, HEAD, OPTIONS, TRACE) that do not carry a valid
 * CSRF token of their session, in the `x-csrf-token` header or a `_csrf` body field (parse the
 * body first). Rejection: 403 with a plain-text reason, or `onReject(req, res, next)`.
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
    if (SAFE_METHODS.has(req.method)) return next()
    const state = states.get(req)
    if (!state) return next(new Error('csrfProtection() needs the expressSession() middleware first'))
    if (state.csrfValid) return next()
    const fromHeader = req.headers[name]
    const candidate = typeof fromHeader === 'string'
      ? fromHeader
      : (req.body && typeof req.body[field] === 'string' ? req.body[field] : undefined)
    if (!state.token || candidate === undefined) return reject(req, res, next)
    let verdict
    try {
      verdict = call(state, 'verifyCsrf', state.token, candidate)
    } catch (err) {
      return next(err)
    }
    if (verdict instanceof Promise) {
      verdict.then((ok) => ok ? next() : reject(req, res, next), next)
    } else if (verdict) {
      next()
    } else {
      reject(req, res, next)
    }
  }
}

module.exports = { expressSession, csrfProtection, Session }
