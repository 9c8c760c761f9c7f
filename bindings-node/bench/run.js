'use strict'
// `make bench` → bench-node. Writes <out>/node.json and <out>/node.md.
//
// 1. HTTP, in one run: the same Express app with no session middleware (the ceiling), with
//    expressSession(), and with express-session + MemoryStore — each app in a process of its
//    own (bench/server.js), driven over loopback by autocannon from this process (10
//    connections, bounded duration and count), every request carrying an established session
//    cookie and reading one session value. The apps take turns in interleaved rounds and the
//    report gives medians (ratios: the median of the per-round ratios), so load from elsewhere
//    on a shared machine hits all three alike. Then, in the same processes, the same rounds of
//    cookieless GETs of a page rendering a sign-in form with a CSRF token (issue 13): Tessera's
//    stateless token against a constant in the field and against a token kept in an
//    express-session (csurf's way), counting the sessions each app created during them.
// 2. Per-operation costs in this process: the middleware's one native call per request; whole
//    Express requests run in process without the network, with and without expressSession();
//    the public API's validate; MemoryStore's get/set/touch.
// 3. Redis (bench/redis.js), when redis-server is installed: Tessera validate/create through
//    Node against connect-redis get/set and a bare GET, at concurrency 1 and 16.
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const session = require('express-session')
const autocannon = require('autocannon')
const { SessionManager } = require('..')
const calls = require('../lib/request.js')
const { redisBench, redisMarkdown } = require('./redis.js')

const OUT = process.argv[2] || path.join(__dirname, '..', '..', 'benches', 'results')
const DURATION_S = Number(process.env.BENCH_SECONDS || 1)
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15)
const CONNECTIONS = 10
const MAX_REQUESTS = 200000

const APPS = [
  { name: 'no session middleware', kind: 'none' },
  { name: 'expressSession()', kind: 'tessera' },
  { name: 'express-session + MemoryStore', kind: 'express-session' }
]

/** Refuse a debug build of the addon (BENCH_ALLOW_DEBUG=1 to measure one anyway). */
function checkProfile (profile, who) {
  if (profile !== 'release' && process.env.BENCH_ALLOW_DEBUG !== '1') {
    throw new Error(`${who} loaded a ${profile} build of tessera.node: run \`make bench-node\` ` +
      '(it builds the release addon), and not while another build replaces it')
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Start bench/server.js for `kind`; resolves { url, child }. */
function startApp (kind) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), kind], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`bench app ${kind} exited (${code})`)))
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl < 0) return
      const [port, profile] = out.slice(0, nl).split(' ')
      try {
        checkProfile(profile, `the ${kind} app`)
      } catch (err) {
        child.removeAllListeners('exit')
        child.kill('SIGTERM')
        return reject(err)
      }
      resolve({ url: `http://127.0.0.1:${port}`, child })
    })
  })
}

async function cookieFor (url) {
  const res = await fetch(url + '/init')
  const set = res.headers.getSetCookie()
  return set.map((c) => c.split(';')[0]).join('; ')
}

/** The app process's CPU time so far (µs). */
async function cpuOf (app) {
  return (await (await fetch(app.url + '/__cpu')).json()).us
}

/** The app's forms served, sessions created so far and store size (null: no store). */
async function countOf (app) {
  return (await fetch(app.url + '/__count')).json()
}

function hit (app, duration, maxRequests, path = '/', cookie = app.cookie) {
  return autocannon({
    url: app.url + path,
    connections: CONNECTIONS,
    duration,
    maxOverallRequests: maxRequests,
    headers: cookie ? { cookie } : {}
  })
}

/**
 * `ROUNDS` interleaved rounds of GET `path` over `apps` (the order rotating every round), each
 * sample with the app process's CPU time per request.
 */
async function rounds (apps, path, cookieOf) {
  const samples = apps.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    const order = apps.map((app, i) => i)
    const turn = order.slice(r % apps.length).concat(order.slice(0, r % apps.length))
    for (const i of turn) {
      const app = apps[i]
      const cpu0 = await cpuOf(app)
      const x = await hit(app, DURATION_S, MAX_REQUESTS, path, cookieOf(app))
      const cpu1 = await cpuOf(app)
      samples[i].push({
        rps: x.requests.average,
        p99: x.latency.p99,
        requests: x.requests.total,
        cpuUs: (cpu1 - cpu0) / Math.max(1, x.requests.total),
        non2xx: x.non2xx,
        errors: x.errors
      })
    }
  }
  return samples
}

function summary (app, samples) {
  const errors = samples.reduce((n, x) => n + x.errors, 0)
  const non2xx = samples.reduce((n, x) => n + x.non2xx, 0)
  return {
    name: app.name,
    kind: app.kind,
    requestsPerSec: median(samples.map((x) => x.rps)),
    p99Ms: median(samples.map((x) => x.p99)),
    requests: samples.reduce((n, x) => n + x.requests, 0),
    cpuUsPerRequest: median(samples.map((x) => x.cpuUs)),
    perRound: samples.map((x) => Math.round(x.rps)),
    non2xx,
    errors,
    ok: errors === 0 && non2xx === 0
  }
}

/**
 * One cookieless GET /form before the figures: a form with a token, and the cookie each app
 * owes a visitor (Tessera: its visitor cookie `sid-csrf`; express-session: a session).
 */
async function checkForm (app) {
  const res = await fetch(app.url + '/form')
  const body = await res.text()
  const cookies = res.headers.getSetCookie().map((c) => c.split('=')[0])
  const expected = { none: [], tessera: ['sid-csrf'], 'express-session': ['sid'] }[app.kind]
  if (res.status !== 200 || !body.includes('name="_csrf"') || cookies.join() !== expected.join()) {
    throw new Error(`bench: GET /form without a cookie on ${app.kind}: ${res.status}, cookies [${cookies}], expected [${expected}]`)
  }
  if (app.kind === 'tessera') {
    const again = await (await fetch(app.url + '/form')).text()
    if (again === body) throw new Error('bench: tessera gave two visitors the same form token')
  }
}

/** The cookieless form rounds, with the sessions each app created during them. */
async function formRounds (apps) {
  for (const app of apps) await checkForm(app)
  for (const app of apps) await hit(app, 1, undefined, '/form', null) // warm-up
  const before = []
  for (const app of apps) before.push(await countOf(app))
  const samples = await rounds(apps, '/form', () => null)
  const runs = []
  for (const [i, app] of apps.entries()) {
    const after = await countOf(app)
    runs.push({
      ...summary(app, samples[i]),
      formsServed: after.forms - before[i].forms,
      sessionsCreated: app.kind === 'express-session' ? after.stored - before[i].stored : after.created - before[i].created,
      storeBefore: before[i].stored,
      storeAfter: after.stored
    })
  }
  // Cost: the ceiling's req/s over the app's, and the app's server CPU per request over the
  // ceiling's, each the median of the per-round ratios.
  const cost = (i) => median(samples[0].map((x, r) => x.rps / samples[i][r].rps))
  const cpu = (i) => median(samples[0].map((x, r) => samples[i][r].cpuUs / x.cpuUs))
  return {
    runs,
    ratios: {
      tessera_vs_ceiling: cost(1),
      express_session_vs_ceiling: cost(2),
      cpu_tessera_vs_ceiling: cpu(1),
      cpu_express_session_vs_ceiling: cpu(2)
    }
  }
}

async function http () {
  const apps = []
  let form
  try {
    for (const a of APPS) {
      const started = await startApp(a.kind)
      apps.push({ ...a, ...started, samples: [] })
    }
    for (const app of apps) {
      if (app.kind !== 'none') app.cookie = await cookieFor(app.url)
    }
    // The ceiling gets a cookie header too (Tessera's), as a browser would send: every app
    // parses the same amount of request.
    apps[0].cookie = apps[1].cookie
    for (const app of apps) await hit(app, 1) // warm-up
    const samples = await rounds(apps, '/', (app) => app.cookie)
    apps.forEach((app, i) => { app.samples = samples[i] })
    // After the session rounds: express-session's store then holds every visitor's session,
    // which must not weigh on its figures above.
    form = await formRounds(apps)
  } finally {
    for (const app of apps) {
      app.child.removeAllListeners('exit')
      app.child.kill('SIGTERM')
    }
  }
  const runs = apps.map((a) => summary(a, a.samples))
  const per = (i, j) => median(apps[i].samples.map((x, r) => x.rps / apps[j].samples[r].rps))
  // Server CPU per request barely depends on what else the machine runs: the throughput a
  // CPU-bound server would reach is inversely proportional to it.
  const cpu = (i, j) => median(apps[j].samples.map((x, r) => x.cpuUs / apps[i].samples[r].cpuUs))
  const ratios = {
    tessera_vs_ceiling: per(1, 0),
    tessera_vs_express_session: per(1, 2),
    express_session_vs_ceiling: per(2, 0),
    cpu_tessera_vs_ceiling: cpu(1, 0),
    cpu_tessera_vs_express_session: cpu(1, 2),
    cpu_express_session_vs_ceiling: cpu(2, 0)
  }
  return { runs, ratios, form }
}

/** ns per call of `f`, the best of a few rounds. */
function perOp (f, n = 200000) {
  let best = Infinity
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) f(i)
    const ns = Number(process.hrtime.bigint() - t0) / n
    best = Math.min(best, ns)
  }
  return best
}

/** ns per call of each function of `fs`, best of `rounds` rounds, the functions taking turns. */
function perOpInterleaved (fs, n, rounds = 9) {
  const best = {}
  for (const k of Object.keys(fs)) best[k] = Infinity
  for (let round = 0; round < rounds; round++) {
    for (const [k, f] of Object.entries(fs)) {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < n; i++) f(i)
      best[k] = Math.min(best[k], Number(process.hrtime.bigint() - t0) / n)
    }
  }
  return best
}

/**
 * Whole Express requests in process (bench/inprocess.js), without session middleware, with a
 * middleware that only calls next() and with expressSession(), each app in a child process of
 * its own, taking turns: the median of 5 rounds (ns).
 */
function inProcessExpress () {
  const samples = { none: [], noop: [], tessera: [], 'form-none': [], 'form-headers': [], 'form-tessera': [] }
  for (let round = 0; round < 5; round++) {
    for (const kind of Object.keys(samples)) {
      const out = execFileSync(process.execPath, [path.join(__dirname, 'inprocess.js'), kind], { encoding: 'utf8' })
      samples[kind].push(Number(out))
    }
  }
  return {
    express_request_ns: median(samples.none),
    express_request_noop_middleware_ns: median(samples.noop),
    express_request_with_tessera_ns: median(samples.tessera),
    express_form_ns: median(samples['form-none']),
    express_form_visitor_headers_ns: median(samples['form-headers']),
    express_form_with_tessera_ns: median(samples['form-tessera'])
  }
}

function perOpAsync (f, n = 100000) {
  return new Promise((resolve) => {
    let best = Infinity
    let round = 0
    const go = () => {
      let i = 0
      const t0 = process.hrtime.bigint()
      const step = () => {
        if (i++ === n) {
          best = Math.min(best, Number(process.hrtime.bigint() - t0) / n)
          return ++round < 5 ? go() : resolve(best)
        }
        f(step)
      }
      step()
    }
    go()
  })
}

async function operations () {
  const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, sweepIntervalMs: null, rotationIntervalMs: null })
  const s = manager.createSync('alice', { n: 1, theme: 'dark' })
  const token = s.newToken
  const header = `sid=${token}`
  const store = new session.MemoryStore()
  const sess = { cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, n: 1, theme: 'dark', passport: { user: 'alice' } }
  await new Promise((resolve) => store.set('sid1', sess, resolve))
  const bound = calls.bind(manager)
  const read = new calls.Outcome(null, calls.AUTH.UNCHANGED, null, 0, 0)
  const native = require('../lib/native.js')
  const fast = native.__requestCalls()
  const raw = native.__newRequest(manager.__handle())
  const result = {
    // A trivial free function, measured alongside: how slow the machine is right now.
    ...perOpInterleaved({
      // The middleware's two native calls for a request that reads its session: begin + finish,
      // the handle given back for the next begin as the middleware does (making a new one
      // costs ~1 µs more, which no request of expressSession() pays once the pool is warm).
      tessera_request_sync_ns: () => {
        const live = bound.begin(header, false, 'GET')[0]
        calls.finish(live, read)
        bound.recycle(live)
      },
      napi_trivial_call_ns: () => native.version(),
      // The same two native calls alone, with the arguments bound.begin/calls.finish pass (bit 1
      // the cookie, bit 8 GET by number; nothing given to finish), their strings not taken
      // apart: the difference to tessera_request_sync_ns is JavaScript's share.
      tessera_request_native_ns: () => {
        fast.begin(raw, 1 | 8, header, false, 1)
        fast.finish(raw, 0, null, 0, null, 0, 0, null)
      },
      // A visitor without a cookie: begin + finish, then the same with the form's token minted
      // between them (a random visitor cookie, a keyed BLAKE3 hash; finish hands the cookie back).
      tessera_anonymous_request_sync_ns: () => {
        const live = bound.begin(undefined, false, 'GET')[0]
        calls.finish(live, read)
        bound.recycle(live)
      },
      tessera_anonymous_form_sync_ns: () => {
        const live = bound.begin(undefined, false, 'GET')[0]
        calls.step(live, calls.STEP.CSRF_TOKEN)
        calls.finish(live, read)
        bound.recycle(live)
      }
    }, 100000, 15),
    ...inProcessExpress(),
    tessera_validate_sync_ns: perOp(() => manager.validateSync(token)),
    tessera_set_sync_ns: perOp((i) => manager.setSync(s.id, 'n', i)),
    tessera_validate_async_ns: await perOpAsync((done) => manager.validate(token).then(done), 20000),
    memorystore_get_ns: await perOpAsync((done) => store.get('sid1', done)),
    memorystore_set_ns: await perOpAsync((done) => store.set('sid1', sess, done)),
    memorystore_touch_ns: await perOpAsync((done) => store.touch('sid1', sess, done))
  }
  return result
}

async function main () {
  const profile = require('../lib/native.js').__buildProfile()
  checkProfile(profile, 'the benchmark')
  const loadStart = require('node:os').loadavg()[0].toFixed(2)
  const { runs, ratios, form } = await http()
  const ops = await operations()
  const redis = await redisBench()
  const targets = {
    validate_ns_at_most: 1000, // issue 14 (it was 1500)
    tessera_vs_ceiling_at_least: 0.9,
    tessera_vs_express_session_at_least: 1.5,
    cookieless_form_cost_at_most: 1.2
  }
  const tesseraForm = form.runs.find((r) => r.kind === 'tessera')
  const formUnwritten = tesseraForm.sessionsCreated === 0 && tesseraForm.storeAfter === tesseraForm.storeBefore &&
    tesseraForm.formsServed > 0
  const met = {
    validate: ops.tessera_request_sync_ns <= targets.validate_ns_at_most,
    ceiling: ratios.tessera_vs_ceiling >= targets.tessera_vs_ceiling_at_least,
    peer: ratios.tessera_vs_express_session >= targets.tessera_vs_express_session_at_least,
    cookieless_form: form.ratios.tessera_vs_ceiling <= targets.cookieless_form_cost_at_most && formUnwritten && tesseraForm.ok
  }
  const file = path.join(OUT, 'node.json')
  let previous = null
  try { previous = JSON.parse(fs.readFileSync(file, 'utf8')) } catch {}
  const report = {
    date: new Date().toISOString(),
    // 1-minute load averages: the figures of a run on a busy machine are not comparable.
    load: { start: loadStart, end: require('node:os').loadavg()[0].toFixed(2) },
    node: process.version,
    machine: `${require('node:os').cpus().length} cores`,
    addon: profile,
    autocannon: { connections: CONNECTIONS, duration_s: DURATION_S, rounds: ROUNDS, max_requests: MAX_REQUESTS },
    http: runs,
    cookieless_form: form,
    operations_ns: ops,
    ratios,
    targets,
    met,
    // A run without redis-server keeps the Redis figures of the last run that had one.
    redis: redis.skipped && previous && previous.redis && !previous.redis.skipped ? { ...previous.redis, kept_from: previous.date } : redis
  }
  fs.mkdirSync(OUT, { recursive: true })
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  const pct = (x) => (100 * x).toFixed(1) + ' %'
  const md = [
    '# Node binding benchmarks',
    '',
    `${report.date}, Node ${process.version}, ${report.machine}; release build; load average ${report.load.start} at the start, ${report.load.end} at the end. Shared machine: compare only within one run.`,
    '',
    '## Express over HTTP',
    '',
    `Each app in its own process, driven over loopback by autocannon (${CONNECTIONS} connections) from another; ` +
      `${ROUNDS} interleaved rounds of ${DURATION_S} s (at most ${MAX_REQUESTS} requests) per app, medians; ` +
      'every request carries an established session cookie (the ceiling gets Tessera\'s) and reads one session ' +
      'value. Server CPU per request (the app process\'s user + system time over the requests it answered) ' +
      'hardly depends on what else the machine runs, so its ratios are the steadier ones.',
    '',
    '| app | req/s (median) | p99 (ms) | server CPU µs/request | requests | errors/non-2xx |',
    '|---|---:|---:|---:|---:|---:|',
    ...runs.map((r) => `| ${r.name} | ${Math.round(r.requestsPerSec)} | ${r.p99Ms} | ${r.cpuUsPerRequest.toFixed(1)} | ${r.requests} | ${r.errors}/${r.non2xx} |`),
    '',
    '| ratio (median of the per-round ratios) | req/s | by server CPU per request | target | met (req/s) |',
    '|---|---:|---:|---:|---|',
    `| expressSession / no sessions | ${pct(ratios.tessera_vs_ceiling)} | ${pct(ratios.cpu_tessera_vs_ceiling)} | ≥ 90 % | ${met.ceiling ? 'yes' : 'no'} |`,
    `| expressSession / express-session + MemoryStore | ${ratios.tessera_vs_express_session.toFixed(2)}× | ${ratios.cpu_tessera_vs_express_session.toFixed(2)}× | ≥ 1.5× | ${met.peer ? 'yes' : 'no'} |`,
    `| express-session + MemoryStore / no sessions | ${pct(ratios.express_session_vs_ceiling)} | ${pct(ratios.cpu_express_session_vs_ceiling)} | | |`,
    '',
    'req/s per round (the order of the apps rotates every round):',
    '',
    ...runs.map((r) => `- ${r.name}: ${r.perRound.join(', ')}`),
    '',
    ...formMarkdown(form, met),
    '## Per operation (memory store, in process)',
    '',
    '| operation | ns |',
    '|---|---:|',
    ...Object.entries(ops).map(([k, v]) => `| ${k} | ${Math.round(v)} |`),
    '',
    '`tessera_request_sync_ns` is what expressSession() pays per request for the session itself: its two ' +
      'native calls, begin (reads the cookie, validates, returns the compact result, taken apart in JavaScript) and ' +
      'finish, on a request handle reused as the middleware reuses it (best of 15 rounds, taking turns with `napi_trivial_call_ns`, a native function that does ' +
      'nothing: ~30 ns on a quiet machine, so it says how loaded this one was). `express_request_ns` / ' +
      '`express_request_with_tessera_ns` are whole Express requests run without the network (real ' +
      'IncomingMessage/ServerResponse on a stub socket, yielding to the event loop every 10 requests as a server ' +
      'does; bench/inprocess.js, each app in a process of its own), without session middleware, with one that only ' +
      'calls next() (`express_request_noop_middleware_ns`) and with expressSession(), the route reading one session ' +
      'value: the difference between the first and the last is the middleware\'s whole cost in Express. `tessera_request_sync_ns` is begin + finish of a request that only reads; `tessera_validate_sync_ns` ' +
      'is the public class method, which builds a full result object.',
    '',
    `Target: a validate through the binding ≤ ${targets.validate_ns_at_most} ns (tessera_request_sync_ns): ${met.validate ? 'met' : 'not met'}.`,
    '',
    ...requestBoundsMarkdown(ops, met),
    '',
    ...boundsMarkdown(runs, ops),
    ...formBoundsMarkdown(form, ops),
    ...redisMarkdown(report.redis),
    ...(report.redis.kept_from ? [`(Redis figures kept from the run of ${report.redis.kept_from}: redis-server was not installed for this one.)`, ''] : [])
  ].join('\n')
  fs.writeFileSync(path.join(OUT, 'node.md'), md)
  process.stdout.write(md)
}

/** Where tessera_request_sync_ns goes: the native calls (mostly the core's work) and JavaScript. */
function requestBoundsMarkdown (ops, met) {
  const whole = ops.tessera_request_sync_ns
  const native = ops.tessera_request_native_ns
  const crossings = 2 * ops.napi_trivial_call_ns
  return [
    `Where its ${Math.round(whole)} ns go${met.validate ? '' : ' (what bounds it)'}: ` +
      `${Math.round(native)} ns are the two native calls themselves (\`tessera_request_native_ns\`: the same ` +
      'calls without taking their results apart), and of those most is the core\'s own `http::begin` + `finish` — ' +
      'the token\'s base64 and BLAKE3, the store\'s lock, the session\'s copy and its atomic reference counts, two ' +
      'clock reads (in Rust alone, one session in cache: ~460 ns when this was tuned, Dec 2026, at load 2.5; ' +
      '`dbsc/tessera/unbound_request` in core.md has it with a million sessions) — then two N-API crossings ' +
      `(~${Math.round(crossings)} ns by \`napi_trivial_call_ns\`) and the binding's conversions (arguments read into the ` +
      'stack, the compact result written, events captured, the request handle checked). The other ' +
      `${Math.round(whole - native)} ns are JavaScript's: taking the compact state apart (\`decodeState\`), the handle ` +
      'pool, the calls\' wrappers. What is left to win is mostly in the core\'s path (issue 14).',
    ''
  ]
}

/**
 * What bounds expressSession()'s share of the ceiling: the budget the 90 % target leaves per
 * request, against what Express charges for any middleware and what Tessera's own parts cost.
 */
function boundsMarkdown (runs, ops) {
  const cpu = (kind) => runs.find((r) => r.kind === kind).cpuUsPerRequest
  const us = (ns) => (ns / 1000).toFixed(1)
  const ceiling = cpu('none')
  const budget = ceiling * (1 / 0.9 - 1)
  const added = cpu('tessera') - ceiling
  const none = ops.express_request_ns
  const middleware = ops.express_request_noop_middleware_ns - none
  const whole = ops.express_request_with_tessera_ns - none
  const native = ops.tessera_request_sync_ns
  return [
    '## What bounds the share of the ceiling',
    '',
    `At 90 % of the ceiling expressSession() may add ${budget.toFixed(1)} µs of server CPU per request ` +
      `(1/0.9 − 1 of the ceiling's ${ceiling.toFixed(1)} µs); over HTTP it added ${added.toFixed(1)} µs. In process ` +
      '(no network, medians of 5 rounds, each app in a process of its own):',
    '',
    '| part of a request | µs | share of the ceiling in process |',
    '|---|---:|---:|',
    `| a whole Express request, no session middleware | ${us(none)} | 100 % |`,
    `| Express's own cost of one more middleware (one that only calls next()) | ${us(middleware)} | ${(100 * middleware / none).toFixed(1)} % |`,
    `| expressSession() in all (with the line above) | ${us(whole)} | ${(100 * whole / none).toFixed(1)} % |`,
    `| of which the native begin + finish (tessera_request_sync_ns) | ${us(native)} | ${(100 * native / none).toFixed(1)} % |`,
    `| of which the JavaScript glue and its garbage (the rest) | ${us(whole - middleware - native)} | ${(100 * (whole - middleware - native) / none).toFixed(1)} % |`,
    '',
    'In process expressSession() runs at ' +
      `${(100 * none / ops.express_request_with_tessera_ns).toFixed(1)} % of the ceiling. The in-process figures are ` +
      'differences of a few µs between requests of tens of µs, timed on a shared machine: read them with the load average (instructions per request, which load does not change: `node bench/instructions.js inprocess` or `… http`, a few minutes under callgrind).',
    ''
  ]
}

/** The cookieless form: its rows and the sessions the apps created during them. */
function formMarkdown (form, met) {
  const r = form.ratios
  const stored = (x) => x.storeBefore === null ? 'no store' : `${x.storeBefore} → ${x.storeAfter}`
  const created = (x) => x.kind === 'none' ? 'no session' : `${x.sessionsCreated} in ${x.formsServed} forms served`
  return [
    '## A form for a visitor without a cookie (issue 13)',
    '',
    'The same processes and rounds as above, every request without a cookie, GET /form rendering a sign-in ' +
      'form with a CSRF token: `req.csrfToken()` under expressSession() (a stateless token bound to a visitor ' +
      'cookie), a constant in the field with no session middleware (the ceiling), and express-session + ' +
      'MemoryStore with a secret kept in the session (csurf\'s way). Sessions created: Tessera\'s `created` events ' +
      'and its store\'s size, express-session\'s MemoryStore growth, both over the timed requests only; one ' +
      'response of each app was checked for its visitor cookie first.',
    '',
    '| app | req/s (median) | p99 (ms) | server CPU µs/request | sessions created | store size before → after | errors/non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...form.runs.map((x) => `| ${x.name} | ${Math.round(x.requestsPerSec)} | ${x.p99Ms} | ${x.cpuUsPerRequest.toFixed(1)} | ${created(x)} | ${stored(x)} | ${x.errors}/${x.non2xx} |`),
    '',
    '| cost vs the ceiling (median of the per-round ratios) | by req/s | by server CPU per request | target | met (req/s, no store write) |',
    '|---|---:|---:|---:|---|',
    `| expressSession(), req.csrfToken() | ${r.tessera_vs_ceiling.toFixed(2)}× | ${r.cpu_tessera_vs_ceiling.toFixed(2)}× | ≤ 1.2×, no store write | ${met.cookieless_form ? 'yes' : 'no'} |`,
    `| express-session + MemoryStore, token in the session | ${r.express_session_vs_ceiling.toFixed(2)}× | ${r.cpu_express_session_vs_ceiling.toFixed(2)}× | (informational) | |`,
    '',
    'req/s per round:',
    '',
    ...form.runs.map((x) => `- ${x.name}: ${x.perRound.join(', ')}`),
    ''
  ]
}

/**
 * Where the cookieless form's added cost goes, in process: the headers a visitor's response
 * carries (what Express charges for them) against the native calls that mint the token.
 */
function formBoundsMarkdown (form, ops) {
  const us = (ns) => (ns / 1000).toFixed(1)
  const none = ops.express_form_ns
  const headers = ops.express_form_visitor_headers_ns - none
  const whole = ops.express_form_with_tessera_ns - none
  const native = ops.tessera_anonymous_form_sync_ns
  const mint = ops.tessera_anonymous_form_sync_ns - ops.tessera_anonymous_request_sync_ns
  const cpu = (kind) => form.runs.find((x) => x.kind === kind).cpuUsPerRequest
  const ratio = form.ratios.tessera_vs_ceiling
  const added = cpu('tessera') - cpu('none')
  return [
    '## What bounds the cookieless form',
    '',
    `Over HTTP expressSession() cost ${ratio.toFixed(2)}× the ceiling by req/s (≤ 1.2× allows 20 %); by server CPU it ` +
      `added ${added.toFixed(1)} µs per request to the ceiling's ${cpu('none').toFixed(1)} µs` +
      (ratio <= 1.2 ? '.' : ', beyond the target: the parts below say where it goes.') +
      ' In process (no network, medians of 5 rounds, each app in a process of its own):',
    '',
    '| part of a cookieless form request | µs | share of the form without sessions |',
    '|---|---:|---:|',
    `| the form page, no session middleware | ${us(none)} | 100 % |`,
    `| Express's handling of the visitor's headers (the same Set-Cookie and Cache-Control set by the route, nothing minted) | ${us(headers)} | ${(100 * headers / none).toFixed(1)} % |`,
    `| expressSession() in all | ${us(whole)} | ${(100 * whole / none).toFixed(1)} % |`,
    `| of which the native begin + token + finish (tessera_anonymous_form_sync_ns) | ${us(native)} | ${(100 * native / none).toFixed(1)} % |`,
    `| of which minting the token: one random draw, one keyed BLAKE3 hash, the cookie's text (form − anonymous request) | ${us(mint)} | ${(100 * mint / none).toFixed(1)} % |`,
    `| the rest: the middleware's JavaScript, the headers, one more middleware (whole − native) | ${us(whole - native)} | ${(100 * (whole - native) / none).toFixed(1)} % |`,
    ''
  ]
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
