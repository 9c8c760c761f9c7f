'use strict'
// The Node runner of the conformance corpus (tests/conformance/*.json, format in its README):
// every scenario through the public JavaScript API, on a fresh store, a ManualClock at
// 1 700 000 000 000 ms and no background sweeper. Unknown ops, arguments, expectation fields or
// config keys fail. Used by conformance.test.js (memory store, synchronous and Promise calls)
// and redis-conformance.test.js (Redis, Promise calls). Defines no tests itself.
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { SessionManager, ManualClock } = require('..')

const DIR = path.join(__dirname, '..', '..', 'tests', 'conformance')
const START_MS = 1_700_000_000_000
const MIN_SCENARIOS = 30

// Corpus config keys → SessionManager options.
const CONFIG = {
  idle_timeout_ms: 'idleTimeoutMs',
  absolute_timeout_ms: 'absoluteTimeoutMs',
  rotation_interval_ms: 'rotationIntervalMs',
  rotation_grace_ms: 'rotationGraceMs',
  max_sessions_per_user: 'maxSessionsPerUser',
  max_sessions: 'maxSessions',
  max_data_bytes: 'maxDataBytes',
  login_keeps_data: 'loginKeepsData',
  cookie_name: 'cookieName',
  cookie_secure: 'cookieSecure',
  cookie_http_only: 'cookieHttpOnly',
  cookie_same_site: 'cookieSameSite',
  cookie_path: 'cookiePath',
  cookie_domain: 'cookieDomain',
  cookie_max_age_ms: 'cookieMaxAgeMs'
}

const SESSION = ['result', 'user', 'data', 'same_session_as', 'secure', 'expires_in_ms', 'absolute_in_ms', 'auth_level', 'authenticated_ago_ms']
// op → [arguments it may have, expectation fields it may check]
const OPS = {
  create: [['user', 'data', 'https', 'user_agent', 'as'], SESSION],
  validate: [['token', 'raw', 'https', 'as'], [...SESSION, 'rotated']],
  rotate: [['token', 'raw', 'https', 'as'], SESSION],
  login: [['token', 'raw', 'user', 'level', 'amr', 'https', 'user_agent', 'as'], SESSION],
  reauthenticate: [['token', 'raw', 'level', 'amr', 'https', 'as'], SESSION],
  require_recent: [['token', 'raw', 'max_age_ms', 'min_level', 'https'], ['result', 'freshness']],
  logout: [['token', 'raw'], ['result', 'ended']],
  revoke: [['id_of', 'raw_id'], ['result', 'ended']],
  revoke_user: [['user'], ['result', 'count']],
  revoke_user_except: [['user', 'token', 'raw'], ['result', 'count']],
  revoke_all: [[], ['result', 'count']],
  list_user: [['user'], ['result', 'count', 'ids_of']],
  set: [['token', 'key', 'value'], ['result']],
  remove_key: [['token', 'key'], ['result']],
  replace_data: [['token', 'data'], ['result']],
  csrf_token: [['token', 'raw', 'as'], ['result']],
  verify_csrf: [['token', 'raw', 'csrf', 'raw_csrf'], ['result', 'valid']],
  advance: [['ms'], []],
  sweep: [[], ['result', 'count']],
  store_len: [[], ['result', 'count']],
  events: [[], ['result', 'events']]
}
const EVENT_FIELDS = ['kind', 'reason', 'user', 'same_session_as']
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k)

function load () {
  return fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((file) => {
    const scenario = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'))
    return { file, scenario }
  })
}

/** Everything in the scenario this runner does not know; it must be empty. */
function problems (s, file) {
  const out = []
  for (const k of Object.keys(s)) {
    if (!['name', 'description', 'config', 'config_error', 'steps'].includes(k)) out.push(`unknown field ${k}`)
  }
  if (s.name !== file.replace(/\.json$/, '')) out.push(`name ${s.name} differs from the file name`)
  for (const k of Object.keys(s.config ?? {})) if (!has(CONFIG, k)) out.push(`unknown config key ${k}`)
  for (const [i, step] of (s.steps ?? []).entries()) {
    const spec = OPS[step.op]
    if (!spec) { out.push(`steps[${i}]: unknown op ${step.op}`); continue }
    for (const k of Object.keys(step)) {
      if (k !== 'op' && k !== 'expect' && !spec[0].includes(k)) out.push(`steps[${i}] (${step.op}): unknown argument ${k}`)
    }
    for (const k of Object.keys(step.expect ?? {})) {
      if (!spec[1].includes(k)) out.push(`steps[${i}] (${step.op}): expect.${k} does not apply`)
    }
    for (const e of step.expect?.events ?? []) {
      for (const k of Object.keys(e)) if (!EVENT_FIELDS.includes(k)) out.push(`steps[${i}]: unknown event field ${k}`)
    }
  }
  return out
}

class Runner {
  constructor (manager, clock, sync) {
    this.m = manager
    this.clock = clock
    this.sync = sync
    this.tokens = new Map()
    this.csrf = new Map()
    this.events = []
    manager.onEvent((e) => this.events.push(e))
  }

  /** `manager.op(...)` in this runner's mode; `{ ok, value }` or `{ ok: false, code }`. */
  async call (op, ...args) {
    try {
      const value = this.sync ? this.m[op + 'Sync'](...args) : await this.m[op](...args)
      return { ok: true, value }
    } catch (err) {
      assert.ok(err instanceof Error, `${op} threw a non-Error`)
      assert.equal(typeof err.code, 'string', `${op} threw an error without a code: ${err}`)
      return { ok: false, code: err.code }
    }
  }

  named (name) {
    if (!this.tokens.has(name)) throw new Error(`token name ${name} is not bound by an earlier "as"`)
    return this.tokens.get(name)
  }

  token (step) {
    if (has(step, 'token')) return this.named(step.token)
    if (has(step, 'raw')) return step.raw
    throw new Error('no token given')
  }

  idOf (name) {
    return this.m.idOf(this.named(name))
  }

  ctx (step) {
    return { https: step.https ?? false, userAgent: step.user_agent }
  }

  /** A step's `level`/`amr` as the manager's `authn` (undefined: one factor). */
  authn (step) {
    if (!has(step, 'level') && !has(step, 'amr')) return undefined
    return { level: step.level, amr: step.amr }
  }

  /** Run one step; returns the outcome to check. */
  async run (step) {
    const session = (r, sent, bindNew) => {
      if (!r.ok) return { code: r.code }
      const v = r.value
      if (!v.valid) return { code: v.reason }
      if (step.as !== undefined) {
        if (v.newToken) this.tokens.set(step.as, v.newToken)
        else if (!bindNew && sent !== undefined) this.tokens.set(step.as, sent)
      }
      return { code: 'ok', session: v, rotated: Boolean(v.newToken) }
    }
    const plain = (r, key) => (r.ok ? { code: 'ok', [key]: r.value } : { code: r.code })
    switch (step.op) {
      case 'create':
        return session(await this.call('create', step.user, step.data, this.ctx(step)), undefined, true)
      case 'validate': {
        const sent = this.token(step)
        return session(await this.call('validate', sent, this.ctx(step)), sent, false)
      }
      case 'rotate':
        return session(await this.call('rotate', this.token(step), this.ctx(step)), undefined, true)
      case 'login': {
        const sent = has(step, 'token') || has(step, 'raw') ? this.token(step) : null
        return session(await this.call('login', sent, step.user, this.ctx(step), this.authn(step)), undefined, true)
      }
      case 'reauthenticate':
        return session(await this.call('reauthenticate', this.token(step), this.authn(step), this.ctx(step)), undefined, true)
      case 'require_recent':
        return plain(await this.call('requireRecent', this.token(step), step.max_age_ms, step.min_level, this.ctx(step)), 'freshness')
      case 'logout':
        return plain(await this.call('logout', this.token(step)), 'ended')
      case 'revoke':
        return plain(await this.call('revoke', has(step, 'id_of') ? this.idOf(step.id_of) : step.raw_id), 'ended')
      case 'revoke_user':
        return plain(await this.call('revokeUser', step.user), 'count')
      case 'revoke_user_except':
        return plain(await this.call('revokeUserExcept', step.user, this.token(step)), 'count')
      case 'revoke_all':
        return plain(await this.call('revokeAll'), 'count')
      case 'list_user': {
        const r = await this.call('listUser', step.user)
        return r.ok ? { code: 'ok', count: r.value.length, list: r.value } : { code: r.code }
      }
      case 'set':
        return plain(await this.call('set', this.idOf(step.token), step.key, step.value))
      case 'remove_key':
        return plain(await this.call('removeKey', this.idOf(step.token), step.key))
      case 'replace_data':
        return plain(await this.call('replaceData', this.idOf(step.token), step.data))
      case 'csrf_token': {
        const r = await this.call('csrfToken', this.token(step))
        if (r.ok && step.as !== undefined) this.csrf.set(step.as, r.value)
        return plain(r)
      }
      case 'verify_csrf': {
        let candidate = step.raw_csrf
        if (has(step, 'csrf')) {
          if (!this.csrf.has(step.csrf)) throw new Error(`csrf name ${step.csrf} is not bound`)
          candidate = this.csrf.get(step.csrf)
        }
        return plain(await this.call('verifyCsrf', this.token(step), candidate), 'valid')
      }
      case 'advance':
        this.clock.advance(step.ms)
        return { code: 'ok' }
      case 'sweep':
        return plain(await this.call('sweep'), 'count')
      case 'store_len':
        return plain(await this.call('storeLen'), 'count')
      case 'events': {
        const events = this.events
        this.events = []
        return { code: 'ok', events }
      }
      default:
        throw new Error(`unknown op ${step.op}`)
    }
  }

  /** The mismatches between `outcome` and `expect`. */
  check (expect, o) {
    const out = []
    const now = this.m.now()
    const need = (field, value) => {
      if (value === undefined) out.push(`${field}: expected, but the op gave result ${o.code} and no ${field}`)
      return value !== undefined
    }
    const eq = (field, want, got) => {
      try {
        assert.deepStrictEqual(got, want)
      } catch {
        out.push(`${field}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`)
      }
    }
    const s = o.session
    for (const [field, want] of Object.entries(expect)) {
      switch (field) {
        case 'result': eq(field, want, o.code); break
        case 'rotated': if (need(field, o.rotated)) eq(field, want, o.rotated); break
        case 'user': if (need(field, s)) eq(field, want, s.user ?? null); break
        case 'data': if (need(field, s)) eq(field, want, s.data); break
        case 'same_session_as': if (need(field, s)) eq(field, this.idOf(want), s.id); break
        case 'secure': if (need(field, s)) eq(field, want, s.secure); break
        case 'expires_in_ms': if (need(field, s)) eq(field, want, s.expiresAt - now); break
        case 'absolute_in_ms': if (need(field, s)) eq(field, want, s.absoluteDeadline - now); break
        case 'ended': if (need(field, o.ended)) eq(field, want, o.ended); break
        case 'count': if (need(field, o.count)) eq(field, want, o.count); break
        case 'ids_of': if (need(field, o.list)) eq(field, want.map((n) => this.idOf(n)), o.list.map((i) => i.id)); break
        case 'valid': if (need(field, o.valid)) eq(field, want, o.valid); break
        case 'freshness': if (need(field, o.freshness)) eq(field, want, o.freshness); break
        case 'auth_level': if (need(field, s)) eq(field, want, s.authenticated == null ? null : s.authenticated.level); break
        case 'authenticated_ago_ms': if (need(field, s)) eq(field, want, s.authenticated == null ? null : now - s.authenticated.at); break
        case 'events': if (need(field, o.events)) out.push(...this.checkEvents(want, o.events)); break
        default: out.push(`unknown expectation ${field}`)
      }
    }
    return out
  }

  checkEvents (want, got) {
    const shown = () => JSON.stringify(got.map((e) => ({ kind: e.kind, reason: e.reason, user: e.user })))
    if (want.length !== got.length) return [`events: expected ${want.length}, got ${got.length}: ${shown()}`]
    const out = []
    want.forEach((w, i) => {
      const e = got[i]
      const wrong = []
      if (w.kind !== e.kind) wrong.push(`kind ${w.kind}`)
      if (has(w, 'reason') && (w.reason ?? null) !== (e.reason ?? null)) wrong.push(`reason ${w.reason}`)
      if (has(w, 'user') && (w.user ?? null) !== (e.user ?? null)) wrong.push(`user ${w.user}`)
      if (has(w, 'same_session_as') && (e.id ?? null) !== this.idOf(w.same_session_as)) wrong.push(`the id of ${w.same_session_as}`)
      if (wrong.length) out.push(`events[${i}]: expected ${wrong.join(', ')}; all events: ${shown()}`)
    })
    return out
  }
}

function options (config) {
  const opts = { sweepIntervalMs: null }
  for (const [k, v] of Object.entries(config ?? {})) opts[CONFIG[k]] = v
  return opts
}

/**
 * Run scenario `s` with synchronous (`sync`) or Promise calls; `extra` are more manager options
 * (e.g. a store). Returns the list of failures.
 */
async function runScenario (s, sync, extra = {}) {
  const clock = new ManualClock(START_MS)
  let manager
  try {
    manager = new SessionManager({ ...options(s.config), ...extra, clock })
  } catch (err) {
    if (s.config_error === undefined) return [`building the manager failed: ${err.message}`]
    return err.code === s.config_error ? [] : [`building the manager failed with ${err.code}, expected ${s.config_error}`]
  }
  if (s.config_error !== undefined) return [`built, expected config_error ${s.config_error}`]
  const runner = new Runner(manager, clock, sync)
  const failures = []
  for (const [i, step] of s.steps.entries()) {
    const at = `steps[${i}] (${step.op})`
    let outcome
    try {
      outcome = await runner.run(step)
    } catch (err) {
      failures.push(`${at}: ${err.message} (rest of the scenario skipped)`)
      break
    }
    if (step.expect) failures.push(...runner.check(step.expect, outcome).map((m) => `${at}: ${m}`))
  }
  return failures
}

module.exports = { DIR, MIN_SCENARIOS, load, problems, runScenario }
