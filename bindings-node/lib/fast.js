'use strict'
// The middleware's per-request calls into the native addon: free functions over an opaque
// handle of the manager (a class method call costs several times a free function's), each
// returning one string in the compact format documented in src/fast.rs, taken apart here with
// indexOf/slice. The session's data stays JSON text until the request reads it.

const native = require('./native.js')

const NL = '\n'

/** What one request learned about its session. */
class RequestResult {
  constructor (valid, reason) {
    this.valid = valid
    this.reason = reason // undefined without a cookie; a code when a cookie named no session
    this.token = null // the token the client holds after this request
    this.id = null
    this.user = null
    this.dataJson = '' // the data as JSON text ('' for {})
    this.expiresAt = null
    this.setCookie = null // a rotated token's cookie (a cleared cookie is the middleware's job)
    this.csrfValid = undefined // the verdict on the CSRF token passed in, if one was
    this.csrfToken = null // a fresh CSRF token, if asked for
  }
}

const ABSENT = Object.freeze(new RequestResult(false, undefined))

/** Take apart the compact string `s`. */
function decode (s) {
  const kind = s.charCodeAt(0)
  if (kind === 65) return ABSENT // 'A'
  if (kind === 82) return new RequestResult(false, s.slice(1)) // 'R' + reason
  const r = new RequestResult(true, undefined)
  const c = s.charCodeAt(1)
  r.csrfValid = c === 45 ? undefined : c === 49 // '-', '1'
  let a = s.indexOf(NL, 2)
  r.expiresAt = +s.slice(2, a)
  let b = s.indexOf(NL, a + 1)
  r.token = s.slice(a + 1, b)
  a = s.indexOf(NL, b + 1)
  r.id = s.slice(b + 1, a)
  b = s.indexOf(NL, a + 1)
  if (b > a + 1) r.setCookie = s.slice(a + 1, b)
  a = s.indexOf(NL, b + 1)
  if (a > b + 1) r.csrfToken = s.slice(b + 1, a)
  b = s.indexOf(NL, a + 1)
  let p = b + 1
  if (s.charCodeAt(a + 1) !== 45) { // not '-': a user of this many UTF-16 units
    const n = +s.slice(a + 1, b)
    r.user = s.slice(p, p + n)
    p += n
  }
  if (p < s.length) r.dataJson = s.slice(p)
  return r
}

/** The fast calls bound to `manager`. */
function bind (manager) {
  const handle = manager.__handle()
  return {
    /** Validate the request's session now (in-process stores). */
    requestSync (cookieHeader, https, csrf) {
      return decode(native.__requestSync(handle, cookieHeader, https, csrf))
    },
    /** The same as a Promise (any store); `mintCsrf` asks for a fresh CSRF token. */
    request (cookieHeader, https, csrf, mintCsrf) {
      return native.__request(handle, cookieHeader, https, csrf, mintCsrf).then(decode)
    },
    /** Set the keys of the JSON object text `setJson` and remove those of `remove`, in one store call. */
    saveSync (id, setJson, remove) {
      return native.__saveSync(handle, id, setJson, remove)
    },
    save (id, setJson, remove) {
      return native.__save(handle, id, setJson, remove)
    }
  }
}

module.exports = { bind, decode, RequestResult }
