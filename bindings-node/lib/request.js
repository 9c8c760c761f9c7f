'use strict'
// The core's per-request protocol (tessera::http) as the Express glue calls it: free functions
// over opaque handles (a class method call costs several times a free function's), each
// answering one compact string (documented in src/request.rs), taken apart here with
// indexOf/slice. The request's state stays in Rust behind the handle `begin` returns; the
// session's data stays JSON text until the request reads it.

const native = require('./native.js')
const { makeError } = require('./errors.js')

// The synchronous calls, taken once: hand-written N-API callbacks (src/callback.rs).
const fast = native.__requestCalls()

/** The steps of `step()`. */
const STEP = Object.freeze({
  ENSURE_ID: 0, // the session's id, reserving one for a new session (no store call)
  CSRF_TOKEN: 1, // a fresh masked CSRF token (no store call)
  VERIFY_CSRF: 2, // '1' if the argument is a CSRF token of the session (no store call)
  LOGIN: 3, // sign the argument's user in now (state back)
  LOGOUT: 4, // end the session now (state back)
  REGENERATE: 5, // a new token now (state back)
  RESERVED_TOKEN: 6, // the token a new session of this request will have (no store call)
  NEXT_ID: 7, // the id the session will have after regenerate() (no store call)
  OFFER_BINDING: 8, // offer a device binding on this response: '1' made, '0' nothing to offer
  REAUTHENTICATE: 9, // the user proved it again (argument: { level, amr } as JSON; state back)
  REQUIRE_RECENT: 10, // 'allowed' | 'anonymous' | 'stale' | 'level' (argument: 'maxAgeMs minLevel')
  AUTHENTICATED: 11 // '{"at","level","amr"}' or '' (no store call)
})

/** The steps that answer a session state. */
const STATE_STEPS = new Set([STEP.LOGIN, STEP.LOGOUT, STEP.REGENERATE, STEP.REAUTHENTICATE])

/** What the framework reports about the user, for `finish`. */
const AUTH = Object.freeze({ UNCHANGED: 0, USER: 1, LOGGED_IN: 2, LOGGED_OUT: 3, REAUTHENTICATED: 4 })

/** How a request proved its session's device, by the compact state's letter. */
const PROOF = Object.freeze({ u: 'unbound', p: 'pending', f: 'fresh' })

/** `flags` of `finish`: bits, plus 16 × an EXPIRY kind. */
const FLAG = Object.freeze({ REGENERATE: 1, EXPIRY_CHANGED: 2, ERROR: 4 })
const EXPIRY = Object.freeze({ NONE: 0, POLICY: 1, BROWSER_SESSION: 2, IDLE: 3, UNTIL: 4, PERSISTENT: 5 })

const NL = '\n'

/** A request's session as `begin` (or a step that changes it) reports it. */
class SessionState {
  constructor (csrf, exists) {
    this.csrf = csrf // '-' no token needed, '0' invalid, '1' valid
    this.exists = exists
    this.expiresAt = null
    this.id = null
    this.maxIdleMs = null // the session's own idle limit, if shorter than the policy's
    this.user = null
    this.dataJson = '' // '' for {}
    this.reason = null // without a session: why its cookie gave none ('unknown', 'binding_missing', …)
    this.binding = null // with a session: 'unbound' | 'pending' | 'fresh'
  }
}

/** Take apart a compact session state, in one pass over its characters. */
function decodeState (s) {
  const r = new SessionState(s[0], s.charCodeAt(1) === 86) // 'V'
  if (!r.exists) {
    if (s.length > 2) r.reason = s.slice(2)
    return r
  }
  const proof = s.charCodeAt(2)
  r.binding = proof === 117 ? PROOF.u : proof === 112 ? PROOF.p : PROOF.f
  // The numbers are read digit by digit: `+s.slice(…)` makes a string and converts it in V8's
  // runtime (tens of ns for a 13-digit time), and `indexOf` calls out for each field.
  let i = 3
  let n = 0
  let c
  while ((c = s.charCodeAt(i)) >= 48 && c <= 57) { n = n * 10 + (c - 48); i++ }
  r.expiresAt = n
  r.id = s.slice(i + 1, i + 65) // 64 hex digits
  i += 66
  if ((c = s.charCodeAt(i)) >= 48 && c <= 57) {
    n = 0
    while ((c = s.charCodeAt(i)) >= 48 && c <= 57) { n = n * 10 + (c - 48); i++ }
    r.maxIdleMs = n
  }
  i++
  if (s.charCodeAt(i) === 45) { // '-': no user
    i += 2
  } else { // a user of this many UTF-16 units
    n = 0
    while ((c = s.charCodeAt(i)) >= 48 && c <= 57) { n = n * 10 + (c - 48); i++ }
    i++
    r.user = s.slice(i, i + n)
    i += n
  }
  if (i < s.length) r.dataJson = s.slice(i)
  return r
}

/** A response's headers and, when finish could not carry out everything, its error. */
class ResponseHeaders {
  constructor (noStore, setCookie, error) {
    this.noStore = noStore
    this.setCookie = setCookie // the session cookie's Set-Cookie value, or null
    this.csrfCookie = null // the Set-Cookie of a visitor's CSRF token, or null
    this.boundCookie = null // the Set-Cookie deleting a bound cookie (device-bound sessions), or null
    this.registration = null // a Secure-Session-Registration offer, or null
    this.error = error // a TesseraError: the headers are the ones the error response must still carry
  }
}

/** Take apart a compact response: null for no header and no failure, else a ResponseHeaders. */
function decodeResponse (s) {
  if (s === '') return null
  let error = null
  if (s.charCodeAt(0) === 33) { // '!'
    const a = s.indexOf(NL)
    const b = s.indexOf(NL, a + 1)
    error = makeError(s.slice(1, a), s.slice(a + 1, b))
    s = s.slice(b + 1)
    if (s === '') return new ResponseHeaders(false, null, error)
  }
  let nl = s.indexOf(NL)
  const cookie = nl < 0 ? s.slice(1) : s.slice(1, nl)
  const r = new ResponseHeaders(s.charCodeAt(0) === 49, cookie === '' ? null : cookie, error)
  while (nl >= 0) {
    const next = s.indexOf(NL, nl + 1)
    const value = s.slice(nl + 2, next < 0 ? s.length : next)
    const tag = s[nl + 1]
    if (tag === 'c') r.csrfCookie = value
    else if (tag === 'b') r.boundCookie = value
    else if (tag === 'r') r.registration = value
    nl = next
  }
  return r
}

// The common methods by number (METHODS in src/request.rs): reading even a short string out of
// V8 costs more than this lookup. No prototype: only these names are found.
const METHOD_NUMBER = Object.assign(Object.create(null), { GET: 1, HEAD: 2, POST: 3, PUT: 4, DELETE: 5, PATCH: 6, OPTIONS: 7 })

// Request handles kept for reuse per manager: making one (an External with its finalizer)
// costs more than the rest of a request's crossing. A bounded few; the rest are collected.
const POOL_SIZE = 256

/** The per-request calls bound to `manager`. */
function bind (manager) {
  const handle = manager.__handle()
  const pool = []
  const take = () => pool.length > 0 ? pool.pop() : native.__newRequest(handle)
  return {
    /** Begin a request now: [request handle, SessionState]. */
    begin (cookieHeader, https, method, userAgent, csrf) {
      const live = take()
      // Which optional strings are given: the native side reads only those (src/request.rs).
      let given = (cookieHeader != null ? 1 : 0) | (userAgent != null ? 2 : 0) | (csrf != null ? 4 : 0)
      const m = typeof method === 'string' ? METHOD_NUMBER[method] : undefined
      if (m !== undefined) given |= 8
      return [live, decodeState(fast.begin(live, given, cookieHeader, https, m ?? method, userAgent, csrf))]
    },
    /** The same as a Promise whose work runs off the event loop (any store). */
    beginAsync (cookieHeader, https, method, userAgent, csrf) {
      const live = take()
      return native.__beginAsync(live, cookieHeader, https, method, userAgent, csrf)
        .then((s) => [live, decodeState(s)])
    },
    /**
     * Give back the handle of a request that finished (finish has returned or resolved), for
     * the next begin. Only the caller that ran finish may, and must use it no more.
     */
    recycle (live) {
      if (pool.length < POOL_SIZE) pool.push(live)
    }
  }
}

/** Take `step` now; a string (ids, tokens, '1'/'0', codes) or a SessionState for the STATE_STEPS. */
function step (live, which, arg) {
  const s = fast.step(live, which, arg)
  return STATE_STEPS.has(which) ? decodeState(s) : s
}

/** `step` as a Promise whose work runs off the event loop (any store). */
function stepAsync (live, which, arg) {
  return native.__stepAsync(live, which, arg)
    .then((s) => STATE_STEPS.has(which) ? decodeState(s) : s)
}

/** Which of an Outcome's optional strings are given: the native side reads only those. */
const given = (o) => (o.data != null ? 1 : 0) | (o.user != null ? 2 : 0) | (o.authn != null ? 4 : 0)

/** The headers the response will carry (no store call): null or a ResponseHeaders. */
function prepare (live, o) {
  return decodeResponse(fast.prepare(live, given(o), o.data, o.auth, o.user, o.flags, o.ms, o.authn))
}

/** Make the store writes now and return the headers. */
function finish (live, o) {
  return decodeResponse(fast.finish(live, given(o), o.data, o.auth, o.user, o.flags, o.ms, o.authn))
}

/** `finish` as a Promise whose work runs off the event loop (any store). */
function finishAsync (live, o) {
  return native.__finishAsync(live, o.data, o.auth, o.user, o.flags, o.ms, o.authn).then(decodeResponse)
}

/** What the app did, for prepare/finish. */
class Outcome {
  constructor (data, auth, user, flags, ms, authn = null) {
    this.data = data // JSON text of the data, or null: the app cannot have changed it
    this.auth = auth
    this.user = user
    this.flags = flags
    this.ms = ms
    this.authn = authn // JSON text of { level, amr } for a login or re-authentication, or null
  }
}

module.exports = {
  STEP, AUTH, FLAG, EXPIRY, Outcome, SessionState, ResponseHeaders, bind, step, stepAsync, prepare, finish, finishAsync, decodeState, decodeResponse
}
