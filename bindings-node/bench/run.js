'use strict'
// `make bench` → bench-node. In one run, over loopback with autocannon (10 connections,
// bounded duration and count): the same Express app with no session middleware (the ceiling),
// with expressSession(), and with express-session + MemoryStore — each request carrying an
// established session cookie and reading one session value. Then per-operation costs: a
// validate through the binding against MemoryStore's get/set/touch.
// Writes <out>/node.json and <out>/node.md.
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const express = require('express')
const session = require('express-session')
const autocannon = require('autocannon')
const { SessionManager, expressSession } = require('..')

const OUT = process.argv[2] || path.join(__dirname, '..', '..', 'benches', 'results')
const DURATION_S = Number(process.env.BENCH_SECONDS || 5)
const MAX_REQUESTS = 200000

function app (middleware) {
  const a = express()
  if (middleware) a.use(middleware)
  a.get('/', (req, res) => {
    const n = req.session ? req.session.n : 0
    res.send(`hello ${n ?? 0}`)
  })
  a.get('/init', (req, res) => {
    req.session.n = 1
    res.send('ok')
  })
  return a
}

async function listen (handler) {
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

async function cookieFor (url) {
  const res = await fetch(url + '/init')
  const set = res.headers.getSetCookie()
  return set.map((c) => c.split(';')[0]).join('; ')
}

async function drive (name, middleware) {
  const server = await listen(app(middleware))
  const url = `http://127.0.0.1:${server.address().port}`
  const cookie = middleware ? await cookieFor(url) : ''
  const opts = { url: url + '/', connections: 10, duration: DURATION_S, amount: undefined, headers: cookie ? { cookie } : {} }
  // Warm-up, then the measured run (bounded by time and by count).
  await autocannon({ ...opts, duration: 1 })
  const r = await autocannon({ ...opts, maxOverallRequests: MAX_REQUESTS })
  server.closeAllConnections()
  server.close()
  const ok = r.non2xx === 0 && r.errors === 0
  return { name, requestsPerSec: r.requests.average, p99Ms: r.latency.p99, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors, ok }
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
  const result = {
    tessera_validate_sync_ns: perOp(() => manager.validateSync(token)),
    tessera_validate_request_sync_ns: perOp(() => manager.validateRequestSync(header)),
    tessera_set_sync_ns: perOp((i) => manager.setSync(s.id, 'n', i)),
    tessera_validate_async_ns: await perOpAsync((done) => manager.validate(token).then(done), 20000),
    memorystore_get_ns: await perOpAsync((done) => store.get('sid1', done)),
    memorystore_set_ns: await perOpAsync((done) => store.set('sid1', sess, done)),
    memorystore_touch_ns: await perOpAsync((done) => store.touch('sid1', sess, done))
  }
  return result
}

async function main () {
  const benchManager = new SessionManager({ cookieName: 'sid', cookieSecure: false, rotationIntervalMs: null })
  const runs = []
  runs.push(await drive('no session middleware', null))
  runs.push(await drive('expressSession()', expressSession({ manager: benchManager })))
  runs.push(await drive('express-session + MemoryStore', session({
    secret: 'bench', resave: false, saveUninitialized: false, name: 'sid', store: new session.MemoryStore()
  })))
  const ops = await operations()
  const [ceiling, tessera, peer] = runs
  const ratios = {
    tessera_vs_ceiling: tessera.requestsPerSec / ceiling.requestsPerSec,
    tessera_vs_express_session: tessera.requestsPerSec / peer.requestsPerSec,
    express_session_vs_ceiling: peer.requestsPerSec / ceiling.requestsPerSec
  }
  const targets = {
    validate_ns_at_most: 1500,
    tessera_vs_ceiling_at_least: 0.9,
    tessera_vs_express_session_at_least: 1.5
  }
  const met = {
    validate: ops.tessera_validate_request_sync_ns <= targets.validate_ns_at_most,
    ceiling: ratios.tessera_vs_ceiling >= targets.tessera_vs_ceiling_at_least,
    peer: ratios.tessera_vs_express_session >= targets.tessera_vs_express_session_at_least
  }
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    machine: `${require('node:os').cpus().length} cores`,
    autocannon: { connections: 10, duration_s: DURATION_S, max_requests: MAX_REQUESTS },
    http: runs,
    operations_ns: ops,
    ratios,
    targets,
    met
  }
  fs.mkdirSync(OUT, { recursive: true })
  fs.writeFileSync(path.join(OUT, 'node.json'), JSON.stringify(report, null, 2) + '\n')
  const pct = (x) => (100 * x).toFixed(1) + ' %'
  const md = [
    '# Node binding benchmarks',
    '',
    `${report.date}, Node ${process.version}, ${report.machine}; autocannon over loopback, 10 connections, ` +
      `${DURATION_S} s (at most ${MAX_REQUESTS} requests) per app, each request with an established session cookie. ` +
      'Single runs on a shared machine: compare within one run.',
    '',
    '| app | req/s | p99 (ms) | requests | errors/non-2xx |',
    '|---|---:|---:|---:|---:|',
    ...runs.map((r) => `| ${r.name} | ${Math.round(r.requestsPerSec)} | ${r.p99Ms} | ${r.requests} | ${r.errors}/${r.non2xx} |`),
    '',
    '| ratio | value | target | met |',
    '|---|---:|---:|---|',
    `| expressSession / no sessions | ${pct(ratios.tessera_vs_ceiling)} | ≥ 90 % | ${met.ceiling ? 'yes' : 'no'} |`,
    `| expressSession / express-session + MemoryStore | ${ratios.tessera_vs_express_session.toFixed(2)}× | ≥ 1.5× | ${met.peer ? 'yes' : 'no'} |`,
    `| express-session + MemoryStore / no sessions | ${pct(ratios.express_session_vs_ceiling)} | | |`,
    '',
    '| operation | ns |',
    '|---|---:|',
    ...Object.entries(ops).map(([k, v]) => `| ${k} | ${Math.round(v)} |`),
    '',
    `Target: a validate through the binding ≤ 1500 ns (validateRequestSync, the middleware's one call): ${met.validate ? 'met' : 'not met'}.`,
    ''
  ].join('\n')
  fs.writeFileSync(path.join(OUT, 'node.md'), md)
  process.stdout.write(md)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
