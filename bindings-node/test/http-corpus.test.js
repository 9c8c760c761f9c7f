'use strict'
// The HTTP conformance corpus (tests/http/*.json, every file found) through Express over real
// HTTP on 127.0.0.1: the reference app (corpus-app.js) with expressSession() and with
// express-session + TesseraStore, each on the memory store, on SQLite and on a private
// redis-server. The runner keeps the cookie jar itself and checks each response as
// tests/http/README.md says.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { SessionManager, ManualClock } = require('..')
const { serve, Gates } = require('./helpers.js')
const { referenceApp } = require('./corpus-app.js')
const { clusterSkipReason, redisSkipReason, startRedis, startRedisCluster } = require('./redis-server.js')

const CORPUS = path.join(__dirname, '..', '..', 'tests', 'http')
const START_MS = 1700000000000
const DEFAULTS = { absoluteTimeoutMs: 12 * 3600 * 1000 }

/**
 * Scenarios express-session + TesseraStore cannot pass, for a reason inherent to express-session
 * (its cookie, not Tessera's, is the one the browser gets). expressSession() has none.
 */
const EXPRESS_SESSION_SKIPS = {
  // filled in below, by reason
}
const reasons = {
  noCsrf: 'express-session has no CSRF tokens (csrfProtection() belongs to expressSession())',
  noRotation: 'express-session owns the cookie and cannot deliver a token the store rotated: TesseraStore runs with rotation off',
  noClear: 'express-session never clears its cookie: a dead, tossed or replaced cookie is simply not sent again',
  regenerateSaves: 'express-session saves the new, empty session regenerate() makes and sends its cookie, so a logout sets a new cookie instead of clearing it',
  cookiePath: 'express-session handles only requests under its cookie\'s path (req.session is undefined elsewhere)',
  expires: 'express-session sends Expires, never Max-Age, and sends its cookie again only when the data changed',
  earlyCookie: 'express-session sets its cookie when the headers go out, before the store is called: a refused write or an error response still sends it, with the app\'s status'
}
for (const [reason, names] of Object.entries({
  noCsrf: ['csrf_for_a_visitor_without_a_session', 'csrf_missing_or_wrong_token_is_refused', 'csrf_needed_for_every_unsafe_method',
    'csrf_not_needed_for_safe_methods', 'csrf_token_dies_at_login', 'csrf_token_of_a_visitor_dies_at_login',
    'csrf_token_of_another_session_is_refused', 'csrf_token_of_the_session_is_accepted', 'csrf_token_survives_a_rotation',
    'relogin_as_the_same_user_renews_the_csrf_secret'],
  noRotation: ['rotation_after_fifteen_minutes_sends_a_new_cookie', 'rotation_and_write_in_the_same_request',
    'rotated_away_token_works_inside_the_grace_only', 'write_with_the_rotated_away_token_inside_the_grace_is_kept',
    'https_upgrade_replaces_the_token_at_once', 'error_response_delivers_a_rotation', 'error_response_delivers_the_https_upgrade',
    'rotated_cookie_keeps_the_per_session_expiry', 'session_created_over_https_is_not_rotated_on_https',
    'request_in_flight_across_a_rotation_keeps_its_write_and_the_cookie', 'data_too_large_still_delivers_a_rotation'],
  noClear: ['absolute_expiry_despite_activity', 'idle_expiry_after_thirty_minutes', 'login_as_another_user_drops_the_first_users_data',
    'login_beyond_max_sessions_per_user_evicts_the_oldest', 'login_replaces_the_token_and_kills_the_pre_login_one',
    'malformed_cookie_is_anonymous_cleared_and_stores_nothing', 'two_session_cookies_are_anonymous_and_cleared',
    'unknown_token_is_never_adopted', 'write_finishing_after_the_session_expired_does_not_resurrect',
    'write_to_an_expired_session_starts_fresh', 'regenerate_replaces_the_token_and_keeps_user_and_data',
    'relogin_as_the_same_user_replaces_the_token', 'relogin_restarts_the_absolute_deadline',
    'write_after_logout_in_the_same_request_goes_to_a_new_session', 'early_headers_still_log_in',
    'a_full_store_evicts_the_idlest_visitor_and_refuses_none_while_visitors_remain'],
  regenerateSaves: ['clearing_the_cookie_repeats_its_attributes', 'early_headers_still_log_out', 'error_response_after_logout_still_logs_out',
    'logout_clears_the_cookie_and_ends_the_session', 'streamed_response_still_logs_out', 'write_after_logout_starts_a_fresh_session',
    'write_racing_a_logout_does_not_resurrect', 'write_with_a_logged_out_cookie_does_not_resurrect'],
  cookiePath: ['config_clearing_uses_the_configured_path_and_domain', 'config_path_domain_and_http_only'],
  expires: ['config_cookie_max_age', 'expiry_cannot_lengthen_past_the_absolute_timeout', 'expiry_cannot_lengthen_past_the_idle_timeout',
    'expiry_null_restores_the_configured_policy', 'expiry_seconds_ends_the_session_after_that_many_seconds',
    'expiry_seconds_just_before_is_valid', 'expiry_zero_is_a_browser_session_cookie', 'permanent_cookie_lives_no_longer_than_the_session',
    'permanent_false_is_a_browser_session_cookie_again'],
  earlyCookie: ['data_too_large_from_a_visitor_creates_no_session', 'data_too_large_is_an_error_and_keeps_the_previous_data',
    'error_response_after_login_does_not_log_in', 'error_response_for_a_visitor_creates_no_session',
    'a_full_store_of_signed_in_users_answers_503_to_a_new_visitor']
})) {
  for (const name of names) EXPRESS_SESSION_SKIPS[name] = reasons[reason]
}

const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

/** A Set-Cookie line as a browser reads it. */
function parseSetCookie (line) {
  const [pair, ...rest] = line.split(';')
  const eq = pair.indexOf('=')
  if (eq <= 0) return null
  let value = pair.slice(eq + 1).trim()
  if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1)
  const attributes = new Map()
  for (const a of rest) {
    const t = a.trim()
    if (!t) continue
    const i = t.indexOf('=')
    attributes.set((i < 0 ? t : t.slice(0, i)).trim().toLowerCase(), i < 0 ? null : t.slice(i + 1).trim())
  }
  const maxAge = attributes.get('max-age')
  const expires = attributes.get('expires')
  const removes = (maxAge !== undefined && maxAge !== null && Number(maxAge) <= 0) ||
    (maxAge === undefined && expires !== undefined && expires !== null && Date.parse(expires) <= Date.now())
  return { name: pair.slice(0, eq).trim(), value, attributes, removes }
}

/** The session cookie values a Cookie header carries. */
function sessionValues (header, name) {
  if (!header) return []
  return header.split(';').map((p) => p.trim()).filter((p) => p.slice(0, p.indexOf('=')).trim() === name)
    .map((p) => { const v = p.slice(p.indexOf('=') + 1).trim(); return v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v })
}

function fill (template, lookup) {
  return template.replace(/\{([^}]*)\}/g, (_, n) => {
    const v = lookup(n)
    if (v === undefined) throw new Error(`no cookie saved as ${n}`)
    return v
  })
}

/** Whether `got` contains `want` (objects key by key, recursively; arrays and scalars exactly). */
function contains (want, got) {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return false
    return Object.keys(want).every((k) => k in got && contains(want[k], got[k]))
  }
  try {
    assert.deepStrictEqual(got, want)
    return true
  } catch {
    return false
  }
}

function attributeMismatches (want, c) {
  const out = []
  const has = (n) => c.attributes.has(n.toLowerCase())
  const get = (n) => c.attributes.get(n.toLowerCase())
  for (const name of ['Secure', 'HttpOnly', 'Expires']) {
    if (!(name in want)) continue
    const w = Boolean(want[name])
    if (w !== has(name)) out.push(`attribute ${name}: expected ${w ? 'present' : 'absent'}, got ${has(name) ? 'present' : 'absent'}`)
  }
  for (const [name, blind] of [['SameSite', true], ['Path', false], ['Domain', false]]) {
    if (!(name in want)) continue
    const w = want[name]
    const g = has(name) ? (get(name) ?? '') : null
    const same = w === null ? g === null : g !== null && (blind ? w.toLowerCase() === g.toLowerCase() : w === g)
    if (!same) out.push(`attribute ${name}: expected ${w}, got ${g}`)
  }
  if ('Max-Age' in want) {
    const w = want['Max-Age']
    const g = has('Max-Age') ? Number(get('Max-Age')) : null
    const ok = w === null
      ? g === null
      : g !== null && Number.isInteger(g) && (typeof w === 'number' ? g === w : (w.min === undefined || g >= w.min) && (w.max === undefined || g <= w.max))
    if (!ok) out.push(`attribute Max-Age: expected ${JSON.stringify(w)}, got ${g}`)
  }
  return out
}

/** One scenario against one app. */
class Runner {
  constructor (url, cookieName, manager, clock, gates) {
    this.url = url
    this.cookieName = cookieName
    this.manager = manager
    this.clock = clock
    this.gates = gates
    this.jar = new Map()
    this.saved = new Map()
    this.csrf = new Map()
    this.held = new Map()
    this.holds = 0
  }

  cookieHeader (arg) {
    const others = () => [...this.jar].filter(([n]) => n !== this.cookieName).map(([n, v]) => `${n}=${v}`)
    const saved = (name) => {
      if (!this.saved.has(name)) throw new Error(`cookie ${JSON.stringify(name)} holds no cookie`)
      return this.saved.get(name)
    }
    let pairs
    if (arg === undefined) pairs = [...this.jar].map(([n, v]) => `${n}=${v}`)
    else if (arg === null) pairs = others()
    else if (typeof arg === 'string') pairs = [...others(), `${this.cookieName}=${saved(arg)}`]
    else if ('raw' in arg) pairs = [arg.raw]
    else if ('template' in arg) pairs = [fill(arg.template, (n) => this.saved.get(n))]
    else throw new Error(`unknown cookie argument ${JSON.stringify(arg)}`)
    const header = pairs.join('; ')
    return header === '' ? undefined : header
  }

  /** Send a request; resolves its response and what was sent. */
  start (request, forceHttps, hold) {
    const header = this.cookieHeader(request.cookie)
    const sent = { jarClient: request.cookie === undefined, values: sessionValues(header, this.cookieName) }
    const headers = { 'user-agent': 'tessera-http-corpus', ...(request.headers || {}) }
    if (header !== undefined) headers.cookie = header
    if (request.https || forceHttps) headers['x-forwarded-proto'] = 'https'
    if (request.csrf !== undefined) {
      headers['x-csrf-token'] = typeof request.csrf === 'string' ? this.csrf.get(request.csrf) ?? '' : request.csrf.raw
    }
    if (hold) headers['x-test-hold'] = hold
    let body
    if (request.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(request.body)
    }
    const response = fetch(this.url + request.path, { method: request.method, headers, body, redirect: 'manual' })
      .then(async (res) => {
        const text = await res.text()
        let json
        try { json = JSON.parse(text) } catch { json = undefined }
        return { status: res.status, setCookies: res.headers.getSetCookie(), cacheControl: res.headers.get('cache-control'), body: json }
      })
    return { sent, response }
  }

  /** Check a response; update the jar and the saved names. */
  conclude (sent, r, expect, saveCookie, saveCsrf) {
    const notes = []
    const lines = r.setCookies.map(parseSetCookie).filter((c) => c !== null)
    const mine = lines.filter((c) => c.name === this.cookieName)
    if (mine.length > 1) notes.push(`${mine.length} Set-Cookie lines for the session cookie`)
    const c = mine[0]
    const noStore = /(^|,)\s*no-store\s*(,|$)/i.test(r.cacheControl ?? '')
    if (c && !noStore) notes.push('the session cookie is set or cleared without Cache-Control: no-store')
    if (expect) {
      if (expect.status !== undefined) {
        const ok = expect.status <= 5 ? Math.floor(r.status / 100) === expect.status : r.status === expect.status
        if (!ok) notes.push(`status: expected ${expect.status}, got ${r.status}`)
      }
      if (expect.cookie !== undefined) {
        const got = !c ? 'none' : c.removes ? 'cleared' : sent.values.includes(c.value) ? 'same' : 'new'
        const ok = {
          none: !c,
          cleared: Boolean(c) && c.removes,
          set: Boolean(c) && !c.removes,
          new: Boolean(c) && !c.removes && !sent.values.includes(c.value),
          same: Boolean(c) && !c.removes && sent.values.length === 1 && sent.values[0] === c.value
        }[expect.cookie]
        if (!ok) notes.push(`cookie: expected ${expect.cookie}, got ${got}`)
      }
      if (expect.attributes !== undefined) {
        if (c) notes.push(...attributeMismatches(expect.attributes, c))
        else notes.push('attributes: expected, but no Set-Cookie for the session cookie')
      }
      if (expect.no_store !== undefined && expect.no_store !== noStore) notes.push(`no_store: expected ${expect.no_store}, got ${noStore}`)
      if (expect.body !== undefined && !contains(expect.body, r.body)) {
        notes.push(`body: expected ${JSON.stringify(expect.body)} within ${JSON.stringify(r.body)}`)
      }
    }
    let held = sent.values.length === 1 ? sent.values[0] : undefined
    if (c) held = c.removes ? undefined : c.value
    if (sent.jarClient) {
      for (const l of lines) {
        if (l.removes) this.jar.delete(l.name)
        else this.jar.set(l.name, l.value)
      }
    }
    if (saveCookie !== undefined) {
      if (held === undefined) this.saved.delete(saveCookie)
      else this.saved.set(saveCookie, held)
    }
    if (saveCsrf !== undefined) {
      if (r.body && typeof r.body.csrf === 'string') this.csrf.set(saveCsrf, r.body.csrf)
      else notes.push(`save_csrf: the response body has no csrf string (${JSON.stringify(r.body)})`)
    }
    return notes
  }

  async step (step, forceHttps, index) {
    if (step.advance_ms !== undefined) {
      this.clock.advance(step.advance_ms)
      return []
    }
    if (step.store_len !== undefined) {
      const got = await this.manager.storeLen()
      return got === step.store_len ? [] : [`store_len: expected ${step.store_len}, got ${got}`]
    }
    if (step.release !== undefined) {
      const h = this.held.get(step.release)
      if (!h) throw new Error(`no request is held as ${step.release}`)
      this.held.delete(step.release)
      this.gates.release(h.gate)
      return this.conclude(h.sent, await h.response, step.expect, step.save_cookie)
    }
    if (step.hold !== undefined) {
      const gate = `${step.hold}#${++this.holds}`
      const { sent, response } = this.start(step.request, forceHttps, gate)
      const early = response.then((r) => ({ early: r }))
      // The app has acted and waits at its gate (or it answered without reaching it: a failure).
      const first = await Promise.race([this.gates.arrived(gate).then(() => null), early])
      if (first !== null) return [`the held request answered before its gate (status ${first.early.status})`]
      this.held.set(step.hold, { sent, response, gate })
      return []
    }
    const { sent, response } = this.start(step.request, forceHttps)
    return this.conclude(sent, await response, step.expect, step.save_cookie, step.save_csrf)
  }
}

const scenarios = fs.readdirSync(CORPUS).filter((f) => f.endsWith('.json')).sort()
  .map((f) => ({ file: f, ...JSON.parse(fs.readFileSync(path.join(CORPUS, f), 'utf8')) }))

it('the corpus is there', () => {
  assert.ok(scenarios.length >= 40, `${scenarios.length} scenarios in ${CORPUS}`)
})

/** Run every scenario for one session layer on one store (`storeOf(name)` gives the store URL). */
function corpus (label, kind, storeOf) {
  describe(label, () => {
    for (const scenario of scenarios) {
      const skip = kind === 'express-session' ? EXPRESS_SESSION_SKIPS[scenario.name] : undefined
      it(scenario.name, { skip }, async () => {
        const config = Object.fromEntries(Object.entries(scenario.config || {}).map(([k, v]) => [camel(k), v]))
        const clock = new ManualClock(START_MS)
        const store = storeOf(scenario.name)
        const options = { ...config, clock, sweepIntervalMs: null, ...(store ? { store } : {}) }
        // express-session owns the cookie: TesseraStore's manager never rotates (see the skip table).
        if (kind === 'express-session') options.rotationIntervalMs = null
        const manager = new SessionManager(options)
        const cookieName = manager.cookieName
        const cookie = {
          name: cookieName,
          path: config.cookiePath ?? '/',
          domain: config.cookieDomain ?? null,
          httpOnly: config.cookieHttpOnly ?? true,
          secure: config.cookieSecure ?? true,
          sameSite: config.cookieSameSite ?? 'lax',
          maxAgeMs: config.cookieMaxAgeMs ?? null
        }
        const gates = new Gates()
        const server = await serve(referenceApp({
          kind,
          manager,
          cookie,
          gates,
          loginKeepsData: config.loginKeepsData ?? true,
          absoluteTimeoutMs: config.absoluteTimeoutMs ?? DEFAULTS.absoluteTimeoutMs
        }))
        const runner = new Runner(server.url, cookieName, manager, clock, gates)
        const failures = []
        try {
          for (const [i, step] of scenario.steps.entries()) {
            // express-session sends a Secure cookie over HTTPS only: every request arrives so.
            const notes = await runner.step(step, kind === 'express-session', i)
            for (const n of notes) failures.push(`step ${i + 1}: ${n}`)
          }
        } finally {
          for (const h of runner.held.values()) runner.gates.release(h.gate)
          await Promise.allSettled([...runner.held.values()].map((h) => h.response))
          await server.close()
        }
        assert.deepEqual(failures, [], `${scenario.file}: ${scenario.description}`)
      })
    }
  })
}

corpus('expressSession(), memory store', 'expressSession', () => null)
corpus('express-session + TesseraStore, memory store', 'express-session', () => null)

describe('on SQLite', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-corpus-sqlite-'))
  after(() => fs.rmSync(dir, { recursive: true, force: true }))
  let n = 0
  const url = (name) => `sqlite://${path.join(dir, `${++n}-${name.slice(0, 40)}.db`)}`
  corpus('expressSession(), SQLite', 'expressSession', url)
  corpus('express-session + TesseraStore, SQLite', 'express-session', url)
})

describe('on Redis', () => {
  const skip = redisSkipReason()
  let server
  if (!skip) {
    before(async () => { server = await startRedis() })
    after(() => server && server.stop())
  }
  let n = 0
  const url = (name) => server.url(`corpus-${++n}-${name.slice(0, 40)}`)
  if (skip) {
    it('the corpus on Redis', { skip }, () => {})
    return
  }
  corpus('expressSession(), Redis', 'expressSession', url)
  corpus('express-session + TesseraStore, Redis', 'express-session', url)
})

describe('on a Redis Cluster', () => {
  const skip = clusterSkipReason()
  let cluster
  if (!skip) {
    before(async () => { cluster = await startRedisCluster() })
    after(() => cluster && cluster.stop())
  }
  let n = 0
  const url = (name) => cluster.url(`cl-${++n}-${name.slice(0, 40)}`)
  if (skip) {
    it('the corpus on a Redis Cluster', { skip }, () => {})
    return
  }
  corpus('expressSession(), Redis Cluster', 'expressSession', url)
  corpus('express-session + TesseraStore, Redis Cluster', 'express-session', url)
})
