'use strict'
// The Redis part of `make bench-node`: on one private redis-server, in the same run, µs per
// operation and operations per second, with 1, 16 and 64 operations in flight, of
//   - Tessera through Node: validate (manager.validate, the public Promise API), the
//     middleware's per-request call (one free function, compact result), and create;
//   - connect-redis (express-session's Redis store, on the `redis` npm client): get and set;
//   - a bare GET through the same `redis` client: the floor for one round trip from Node.
// Rounds are interleaved (every operation once per round) and medians reported, so a burst of
// load from elsewhere on the machine hits every contender alike. redis-server's own CPU time per
// operation (from /proc, over the timed rounds at concurrency 64) gives the most operations per
// second one Redis thread could serve, however the client pipelines: the ceiling of each
// contender's throughput.
const fs = require('node:fs')
const { createClient } = require('redis')
const { RedisStore } = require('connect-redis')
const { SessionManager } = require('..')
const calls = require('../lib/request.js')
const { haveRedis, startRedis } = require('../test/redis-server.js')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/**
 * Run `op(i)` (returning a Promise) `total` times with `concurrency` in flight. Returns
 * { opsPerSec, usPerOp } where usPerOp is the mean latency of one operation.
 */
async function drive (op, total, concurrency) {
  let next = 0
  let latencyNs = 0n
  const lane = async () => {
    while (next < total) {
      const i = next++
      const t0 = process.hrtime.bigint()
      await op(i)
      latencyNs += process.hrtime.bigint() - t0
    }
  }
  const t0 = process.hrtime.bigint()
  await Promise.all(Array.from({ length: concurrency }, lane))
  const wallNs = Number(process.hrtime.bigint() - t0)
  return { opsPerSec: total / (wallNs / 1e9), usPerOp: Number(latencyNs) / total / 1000 }
}

/**
 * CPU seconds the main thread of process `pid` (redis-server's, which runs every command) has
 * used so far: the scheduler's nanosecond account (/proc/PID/task/PID/schedstat, Linux), not
 * the 10 ms ticks of /proc/PID/stat, which are too coarse for a few thousand commands.
 */
function cpuSeconds (pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9
  } catch {
    return NaN
  }
}

/** Run the Redis benchmark; resolves its report, or { skipped } without redis-server. */
async function redisBench ({ rounds = Number(process.env.BENCH_REDIS_ROUNDS || 5), total = Number(process.env.BENCH_REDIS_OPS || 4000) } = {}) {
  if (!haveRedis()) return { skipped: 'redis-server is not installed' }
  const server = await startRedis()
  const client = createClient({ url: `redis://127.0.0.1:${server.port}/0` })
  client.on('error', () => {})
  try {
    await client.connect()
    const manager = new SessionManager({
      store: server.url('bench'),
      cookieName: 'sid',
      cookieSecure: false,
      sweepIntervalMs: null,
      rotationIntervalMs: null
    })
    const bound = calls.bind(manager)
    const data = { n: 1, theme: 'dark', passport: { user: 'alice' } }
    const s = await manager.create('alice', data)
    const header = `sid=${s.newToken}`
    if (!(await manager.validate(s.newToken)).valid) throw new Error('bench: the session is not valid')

    const store = new RedisStore({ client, prefix: 'sess:' })
    const sess = { cookie: { originalMaxAge: null, httpOnly: true, path: '/' }, ...data }
    await new Promise((resolve, reject) => store.set('sid1', sess, (e) => (e ? reject(e) : resolve())))
    await client.set('bare', JSON.stringify(sess))

    const ops = {
      tessera_validate: () => manager.validate(s.newToken),
      tessera_request: () => bound.beginAsync(header, false, 'GET'),
      tessera_create: () => manager.create(null, data),
      connect_redis_get: () => new Promise((resolve, reject) => store.get('sid1', (e, v) => (e ? reject(e) : resolve(v)))),
      connect_redis_set: () => new Promise((resolve, reject) => store.set('sid1', sess, (e) => (e ? reject(e) : resolve()))),
      redis_bare_get: () => client.get('bare')
    }
    const concurrencies = [1, 16, 64]
    const samples = {}
    for (const name of Object.keys(ops)) for (const c of concurrencies) samples[`${name}@${c}`] = []
    // redis-server's CPU seconds and the operations served, per operation, at concurrency 64.
    const redisCpu = {}
    for (const name of Object.keys(ops)) redisCpu[name] = { seconds: 0, ops: 0 }
    // Warm-up: connections, JIT, pools. (The sessions create makes stay: ending them all would
    // end the one the validate figures read, which would then time rejections.)
    for (const op of Object.values(ops)) {
      for (const c of concurrencies) await drive(op, Math.min(total, 1000), c)
    }
    for (let r = 0; r < rounds; r++) {
      const names = Object.keys(ops)
      // Rotate the order every round so no contender always runs first or last.
      const order = names.slice(r % names.length).concat(names.slice(0, r % names.length))
      for (const name of order) {
        for (const c of concurrencies) {
          const before = cpuSeconds(server.pid)
          samples[`${name}@${c}`].push(await drive(ops[name], total, c))
          if (c === 64) {
            redisCpu[name].seconds += cpuSeconds(server.pid) - before
            redisCpu[name].ops += total
          }
        }
      }
    }
    // What was timed was the validate of a live session, not a rejection.
    const still = await manager.validate(s.newToken)
    if (!still.valid) throw new Error(`bench: the timed session ended (${still.reason})`)
    const results = {}
    for (const [key, list] of Object.entries(samples)) {
      results[key] = {
        us_per_op: median(list.map((x) => x.usPerOp)),
        ops_per_sec: median(list.map((x) => x.opsPerSec))
      }
    }
    // The most operations per second one redis-server thread could serve at that CPU cost.
    const redisCeiling = {}
    for (const [name, v] of Object.entries(redisCpu)) {
      const usPerOp = (v.seconds / v.ops) * 1e6
      redisCeiling[name] = { redis_cpu_us_per_op: usPerOp, ops_per_sec: 1e6 / usPerOp }
    }
    const at = (name, c) => results[`${name}@${c}`]
    const ratios = {}
    for (const c of concurrencies) {
      ratios[`validate_vs_bare_get_latency@${c}`] = at('tessera_validate', c).us_per_op / at('redis_bare_get', c).us_per_op
      ratios[`request_vs_bare_get_latency@${c}`] = at('tessera_request', c).us_per_op / at('redis_bare_get', c).us_per_op
      ratios[`validate_vs_connect_redis_get_throughput@${c}`] = at('tessera_validate', c).ops_per_sec / at('connect_redis_get', c).ops_per_sec
      ratios[`request_vs_connect_redis_get_throughput@${c}`] = at('tessera_request', c).ops_per_sec / at('connect_redis_get', c).ops_per_sec
      ratios[`create_vs_connect_redis_set_throughput@${c}`] = at('tessera_create', c).ops_per_sec / at('connect_redis_set', c).ops_per_sec
    }
    // Issue 12: validate within 1.3x a bare GET at c=1; at least 2x connect-redis's get at 16 and 64.
    const targets = { validate_vs_bare_get_latency_at_most: 1.3, vs_connect_redis_throughput_at_least: 2 }
    const met = {
      validate_within_1_3x_bare_get: ratios['validate_vs_bare_get_latency@1'] <= 1.3,
      request_within_1_3x_bare_get: ratios['request_vs_bare_get_latency@1'] <= 1.3,
      validate_2x_connect_redis_c16: ratios['validate_vs_connect_redis_get_throughput@16'] >= 2,
      validate_2x_connect_redis_c64: ratios['validate_vs_connect_redis_get_throughput@64'] >= 2,
      create_2x_connect_redis_c16: ratios['create_vs_connect_redis_set_throughput@16'] >= 2,
      create_2x_connect_redis_c64: ratios['create_vs_connect_redis_set_throughput@64'] >= 2
    }
    return {
      redis_server: (await client.info('server')).match(/redis_version:(\S+)/)?.[1] ?? 'unknown',
      threadpool: Number(process.env.UV_THREADPOOL_SIZE || 4),
      rounds,
      ops_per_round: total,
      results,
      redis_ceiling: redisCeiling,
      ratios,
      targets,
      met
    }
  } finally {
    await client.quit().catch(() => {})
    await server.stop()
  }
}

/** The Redis section of node.md. */
function redisMarkdown (r) {
  if (r.skipped) return ['## Redis', '', `Skipped: ${r.skipped}.`, '']
  const names = {
    tessera_validate: 'Tessera validate (manager.validate)',
    tessera_request: 'Tessera per-request call (expressSession\'s)',
    tessera_create: 'Tessera create',
    connect_redis_get: 'connect-redis get',
    connect_redis_set: 'connect-redis set',
    redis_bare_get: 'bare GET (`redis` client)'
  }
  const row = (n) => {
    const cells = [1, 16, 64].map((c) => r.results[`${n}@${c}`])
      .map((v) => `${v.us_per_op.toFixed(1)} | ${Math.round(v.ops_per_sec)}`)
    return `| ${names[n]} | ${cells.join(' | ')} |`
  }
  const three = (key) => [1, 16, 64].map((c) => x(r.ratios[`${key}@${c}`])).join(' | ')
  const x = (v) => v.toFixed(2) + '×'
  const yes = (b) => (b ? 'yes' : 'no')
  return [
    '## Redis',
    '',
    `One private redis-server ${r.redis_server} on loopback; ${r.rounds} interleaved rounds of ${r.ops_per_round} operations ` +
      'per operation and concurrency, medians. Tessera\'s Promise calls never use libuv\'s pool ' +
      `(${r.threadpool} threads): a validate or a request whose session needs no write is settled by one read on ` +
      'the store\'s I/O thread, anything else by the store\'s own pool, all pipelined on one connection. Latency ' +
      'is the mean time one operation takes (with 16 or 64 in flight it includes queueing).',
    '',
    '| operation | µs/op (c=1) | ops/s (c=1) | µs/op (c=16) | ops/s (c=16) | µs/op (c=64) | ops/s (c=64) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...Object.keys(names).map(row),
    '',
    'Issue 12: validate latency within 1.3× a bare `GET` at concurrency 1; throughput at least 2× connect-redis ' +
      '`get` at 16 and 64.',
    '',
    '| ratio | c=1 | c=16 | c=64 | target | met |',
    '|---|---:|---:|---:|---:|---|',
    `| validate latency / bare GET | ${three('validate_vs_bare_get_latency')} | ≤ 1.3× (c=1) | ${yes(r.met.validate_within_1_3x_bare_get)} |`,
    `| per-request call latency / bare GET | ${three('request_vs_bare_get_latency')} | ≤ 1.3× (c=1) | ${yes(r.met.request_within_1_3x_bare_get)} |`,
    `| validate throughput / connect-redis get | ${three('validate_vs_connect_redis_get_throughput')} | ≥ 2× (c=16, 64) | ${yes(r.met.validate_2x_connect_redis_c16)} / ${yes(r.met.validate_2x_connect_redis_c64)} |`,
    `| per-request call throughput / connect-redis get | ${three('request_vs_connect_redis_get_throughput')} | ≥ 2× | |`,
    `| create throughput / connect-redis set | ${three('create_vs_connect_redis_set_throughput')} | ≥ 2× (c=16, 64) | ${yes(r.met.create_2x_connect_redis_c16)} / ${yes(r.met.create_2x_connect_redis_c64)} |`,
    '',
    ...ceilingMarkdown(r)
  ]
}

/**
 * What one redis-server thread could serve at most, per operation, from its own CPU time: the
 * bound no client-side pipelining can pass.
 */
function ceilingMarkdown (r) {
  const c = r.redis_ceiling
  if (!c || !c.tessera_validate || !Number.isFinite(c.tessera_validate.ops_per_sec)) return []
  const rows = Object.keys(c).map((n) =>
    `| ${n} | ${c[n].redis_cpu_us_per_op.toFixed(2)} | ${Number.isFinite(c[n].ops_per_sec) ? Math.round(c[n].ops_per_sec) : '—'} |`)
  const need = 2 * r.results['connect_redis_get@64'].ops_per_sec
  const v = c.tessera_validate
  return [
    'The ceiling: redis-server\'s own CPU time per operation over the timed rounds at concurrency 64, and the ' +
      'most operations per second its one thread could serve at that cost, whatever the client.',
    '',
    '| operation | redis-server CPU µs/op | at most ops/s |',
    '|---|---:|---:|',
    ...rows,
    '',
    `Twice connect-redis's \`get\` at concurrency 64 is ${Math.round(need)} validates/s; one Redis serves at most ` +
      `${Math.round(v.ops_per_sec)} at the ${v.redis_cpu_us_per_op.toFixed(2)} µs a validate's \`HGETALL\` costs it ` +
      `(${(v.ops_per_sec / need).toFixed(2)} of the target), against ${c.connect_redis_get.redis_cpu_us_per_op.toFixed(2)} µs ` +
      'for connect-redis\'s `GET` of one JSON string.',
    ''
  ]
}

module.exports = { redisBench, redisMarkdown }

if (require.main === module) {
  redisBench().then((r) => {
    console.log(redisMarkdown(r).join('\n'))
    console.log(JSON.stringify(r, null, 2))
  }, (err) => { console.error(err); process.exit(1) })
}
