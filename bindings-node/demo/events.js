'use strict'
// The demo's audit log: lifecycle events as JSON lines in one file that the three servers
// append to, read back for the events panel and for "why you were signed out".
//
// Events carry public session ids and users, never tokens (core's rule). A revocation's cause
// (an administrator, "sign out everywhere", "sign out this device") is the app's: it is named
// around a synchronous call, whose events the binding delivers before the call returns.
const fs = require('node:fs')

const KINDS = new Set(['created', 'rotated', 'login', 'logout', 'revoked', 'expired',
  // Device binding and step-up (a re-authentication mints a new token, as a rotation does).
  'registered', 'refreshed', 'proof_failed', 'binding_missing', 'unbound', 'reauthenticated'])
// The kinds that give a session a new token (and a new public id) it keeps living under.
const NEW_TOKEN = new Set(['rotated', 'reauthenticated'])
const ENDINGS = new Set(['logout', 'revoked', 'expired'])
const SHOWN = 50

class EventLog {
  constructor (path, site) {
    this.path = path
    this.site = site
    this.currentCause = null
  }

  /** Run `fn` (synchronous store calls) with its revocations marked as `cause`. */
  cause (cause, fn) {
    this.currentCause = cause
    try {
      return fn()
    } finally {
      this.currentCause = null
    }
  }

  /** The manager's listener. */
  record (event) {
    if (!KINDS.has(event.kind)) return // "rejected" happens on every stale cookie
    const line = {
      at: event.at,
      site: this.site,
      kind: event.kind,
      id: event.id ?? null,
      previous_id: event.previousId ?? null,
      user: event.user ?? null,
      reason: event.reason ?? event.detail ?? null, // DBSC and step-up events: their detail
      cause: event.kind === 'revoked' ? this.currentCause : null
    }
    // One write of one line, O_APPEND: the three processes' lines never interleave.
    fs.appendFileSync(this.path, JSON.stringify(line) + '\n')
  }

  read () {
    let text
    try {
      text = fs.readFileSync(this.path, 'utf8')
    } catch (err) {
      if (err.code === 'ENOENT') return []
      throw err
    }
    const events = []
    for (const line of text.split('\n')) {
      if (!line) continue
      try {
        events.push(JSON.parse(line))
      } catch {
        // a line another process is writing right now
      }
    }
    return events
  }

  recent () {
    return this.read().slice(-SHOWN)
  }

  /** When the session's current token was minted (ms), if the log saw it. */
  rotatedAt (id) {
    let at = null
    for (const e of this.read()) {
      if (e.id === id && (e.kind === 'created' || e.kind === 'login' || NEW_TOKEN.has(e.kind))) {
        at = Math.max(at ?? 0, e.at)
      }
    }
    return at
  }

  /**
   * Why the session of a refused cookie ended: [code, site], from the last ending the log
   * holds for its id (following rotations to the session's later ids).
   */
  explain (id) {
    if (!id) return ['unknown', '']
    const events = this.read()
    const successor = new Map()
    for (const e of events) if (NEW_TOKEN.has(e.kind) && e.previous_id) successor.set(e.previous_id, e.id)
    const ids = new Set([id])
    let current = id
    while (successor.has(current) && !ids.has(successor.get(current))) {
      current = successor.get(current)
      ids.add(current)
    }
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]
      if (!ids.has(e.id) || !ENDINGS.has(e.kind)) continue
      if (e.kind === 'expired') return [e.reason || 'expired_idle', e.site]
      if (e.kind === 'revoked') return [e.cause || 'revoked', e.site]
      return ['logged_out', e.site]
    }
    return ['unknown', '']
  }
}

module.exports = { EventLog }
