'use strict'
// TesseraStore: an express-session Store backed by the Tessera core, for apps that keep
// express-session. The session id express-session puts in its (signed) cookie is a Tessera
// token, minted by the core: pass `genid: store.genid` so express-session never invents one.
//
//   const store = new TesseraStore({ cookieName: 'sid', cookieSecure: false })
//   app.use(session({ store, genid: store.genid, secret: '…', resave: false, saveUninitialized: false }))
//
// What the core adds over MemoryStore: ids in the store are hashes of the tokens, idle and
// absolute timeouts enforced by the store, logout that really ends the session, and writes
// that never resurrect a session ended meanwhile.

const session = require('express-session')
const { SessionManager } = require('./native.js')
const { makeError } = require('./errors.js')

const ENDED = new Set(['malformed', 'unknown', 'expired_idle', 'expired_absolute'])

class TesseraStore extends session.Store {
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
    this.sync = !this.manager.isNetworked
    /** express-session's `genid` option: a fresh session, minted by the core. */
    this.genid = (req) => {
      if (!this.sync) {
        throw new TypeError('TesseraStore.genid needs an in-process store (memory://)')
      }
      const ctx = req ? { https: req.secure === true, userAgent: req.headers && req.headers['user-agent'] } : undefined
      return this.manager.createSync(null, null, ctx).newToken
    }
  }

  #call (op, args, cb, map = (v) => v) {
    let result
    try {
      result = this.sync ? this.manager[op + 'Sync'](...args) : this.manager[op](...args)
    } catch (err) {
      return done(cb, err)
    }
    if (result instanceof Promise) {
      result.then((v) => done(cb, null, map(v)), (err) => done(cb, err))
    } else {
      done(cb, null, map(result))
    }
  }

  /** The session data for `sid`, or null if it has ended (or never existed). */
  get (sid, cb) {
    // Data without express-session's `cookie` was never saved by express-session: no session.
    this.#call('validate', [sid], cb, (r) => (r.valid && r.data && r.data.cookie ? r.data : null))
  }

  /** Save the whole session object (express-session's cookie settings included). */
  set (sid, sess, cb) {
    const id = this.#id(sid, cb)
    if (id === null) return
    let data
    try {
      data = JSON.parse(JSON.stringify(sess))
    } catch (err) {
      return done(cb, err)
    }
    this.#call('replaceData', [id, data], swallowEnded(cb))
  }

  /** End the session: its token is dead from now on. */
  destroy (sid, cb) {
    this.#call('logout', [sid], cb, () => undefined)
  }

  /** Keep the session alive (validation moves its idle deadline). */
  touch (sid, sess, cb) {
    this.#call('validate', [sid], swallowEnded(cb), () => undefined)
  }

  /** How many sessions the store holds. */
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
    done(cb, makeError('invalid_argument', 'TesseraStore.all() is not offered: it would list ' +
      'every token; use store.manager.listUser(user) for public ids per user'))
  }

  #id (sid, cb) {
    const id = typeof sid === 'string' ? this.manager.idOf(sid) : null
    if (id === null) {
      done(cb, makeError('invalid_argument', 'this session id was not minted by Tessera: give ' +
        'express-session `genid: store.genid`'))
    }
    return id
  }
}

function done (cb, err, value) {
  if (typeof cb === 'function') process.nextTick(cb, err || null, value)
}

/** A write to a session that ended meanwhile is not an error for express-session: it is gone. */
function swallowEnded (cb) {
  return (err, value) => {
    if (err && ENDED.has(err.code)) return cb && cb(null)
    if (cb) cb(err, value)
  }
}

module.exports = { TesseraStore }
