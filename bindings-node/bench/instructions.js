'use strict'
// `node bench/instructions.js [http|inprocess] [n1] [n2]`: instructions per request, which a
// shared machine's load does not change (wall-clock and CPU time do). Each app runs under
// `valgrind --tool=callgrind` with `node --predictable` (no concurrent compilation or GC
// threads) twice, for n1 and n2 requests after the same warm-up; the difference over n2 - n1
// requests leaves out start-up and warm-up. Slow (valgrind runs Node ~50× slower): not part of
// `make bench`.
//   http       bench/server.js driven by autocannon (10 connections): none, tessera
//   inprocess  bench/inprocess.js (n = BENCH_INPROCESS_N: 4n requests per run): none, noop, tessera
const path = require('node:path')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const { spawn, spawnSync } = require('node:child_process')
const autocannon = require('autocannon')

const mode = process.argv[2] || 'http'
const n1 = Number(process.argv[3] || 1000)
const n2 = Number(process.argv[4] || 3000)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-instructions-'))
const CALLGRIND = ['--tool=callgrind', '--callgrind-out-file=' + path.join(tmp, 'callgrind.%p')]

/** "I refs" from valgrind's summary on stderr. */
function refs (stderr) {
  const m = /I\s+refs:\s+([\d,]+)/.exec(stderr)
  if (!m) throw new Error(`no instruction count in valgrind's output:\n${stderr.slice(-2000)}`)
  return Number(m[1].replace(/,/g, ''))
}

function get (url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { res.resume(); res.on('end', () => resolve(res)) }).on('error', reject)
  })
}

/** Instructions of a bench/server.js process that answered `n` requests (after 500 of warm-up). */
async function httpRun (kind, n) {
  const child = spawn('valgrind', [...CALLGRIND, process.execPath, '--predictable', path.join(__dirname, 'server.js'), kind],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(String(d).split(' ')[0]))
    child.once('exit', (code) => reject(new Error(`server ${kind} exited (${code}):\n${stderr.slice(-2000)}`)))
  })
  const url = `http://127.0.0.1:${port}`
  const init = await get(`${url}/init`)
  // The ceiling gets a cookie of the same shape (bench/run.js gives it Tessera's).
  const cookie = kind === 'none' ? `sid=${'A'.repeat(43)}` : init.headers['set-cookie'][0].split(';')[0]
  const drive = (amount) => autocannon({ url: `${url}/`, connections: 10, amount, timeout: 60, headers: { cookie } })
  await drive(500)
  const r = await drive(n)
  if (r.errors || r.non2xx) throw new Error(`server ${kind}: ${r.errors} errors, ${r.non2xx} non-2xx`)
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  return refs(stderr)
}

async function main () {
  const kinds = mode === 'http' ? ['none', 'tessera'] : ['none', 'noop', 'tessera']
  const perRequest = {}
  for (const kind of kinds) {
    let a, b
    if (mode === 'http') {
      a = await httpRun(kind, n1)
      b = await httpRun(kind, n2)
      perRequest[kind] = (b - a) / (n2 - n1)
    } else {
      a = inProcess(kind, n1)
      b = inProcess(kind, n2)
      perRequest[kind] = (b - a) / (4 * (n2 - n1))
    }
    process.stdout.write(`${kind}: ${Math.round(perRequest[kind])} instructions per request\n`)
  }
  for (const kind of kinds.slice(1)) {
    const extra = perRequest[kind] - perRequest.none
    process.stdout.write(`${kind} vs none: +${Math.round(extra)} (${(100 * perRequest.none / perRequest[kind]).toFixed(1)} % of the ceiling)\n`)
  }
  fs.rmSync(tmp, { recursive: true, force: true })
}

/** Instructions of a bench/inprocess.js process (4n requests: warm-up and three rounds). */
function inProcess (kind, n) {
  const r = spawnSync('valgrind',
    [...CALLGRIND, process.execPath, '--predictable', path.join(__dirname, 'inprocess.js'), kind],
    { env: { ...process.env, BENCH_INPROCESS_N: String(n) }, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`inprocess ${kind} failed (${r.status}):\n${(r.stderr || '').slice(-2000)}`)
  return refs(r.stderr)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
