'use strict'
// Run test/cluster-app.js under Node's `cluster` from a test file (the test process is the
// primary), and talk to it over fresh loopback connections so that the primary's round-robin
// spreads the requests over the workers (a keep-alive connection would stay on one worker).
// Defines no tests.
const cluster = require('node:cluster')
const http = require('node:http')
const path = require('node:path')

const started = new Set()
process.on('exit', () => {
  for (const w of started) if (!w.isDead()) w.process.kill('SIGKILL')
})

/**
 * Fork `workers` workers of cluster-app.js with `env` and wait until all listen (bounded).
 * Returns { port, pids, warnings (a list of { pid, code, message }), flush(), stop() }.
 */
async function startCluster ({ workers = 4, env = {}, timeoutMs = 20000 } = {}) {
  cluster.setupPrimary({ exec: path.join(__dirname, 'cluster-app.js'), silent: false })
  const warnings = []
  const forked = []
  const listening = []
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork({ ...env })
    started.add(w)
    forked.push(w)
    listening.push(new Promise((resolve, reject) => {
      w.on('message', (m) => {
        if (m && m.listening) resolve(m.listening)
        if (m && m.warning) warnings.push({ pid: w.process.pid, ...m.warning })
      })
      w.on('exit', (code) => reject(new Error(`worker ${w.process.pid} exited (${code}) before listening`)))
    }))
  }
  const stop = async () => {
    await Promise.all(forked.map((w) => new Promise((resolve) => {
      if (w.isDead()) return resolve()
      const timer = setTimeout(() => w.process.kill('SIGKILL'), 5000)
      w.on('exit', () => { clearTimeout(timer); started.delete(w); resolve() })
      try { w.send('stop') } catch { w.process.kill('SIGKILL') }
    })))
  }
  let timer
  try {
    const ports = await Promise.race([
      Promise.all(listening),
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`the cluster did not listen within ${timeoutMs} ms`)), timeoutMs)
      })
    ])
    if (new Set(ports).size !== 1) throw new Error(`workers listen on different ports: ${ports}`)
    // Every warning of the requests answered so far has arrived once each worker answered a ping.
    const flush = () => Promise.all(forked.map((w) => new Promise((resolve) => {
      const onMessage = (m) => { if (m && m.pong) { w.off('message', onMessage); resolve() } }
      w.on('message', onMessage)
      w.send('ping')
    })))
    return { port: ports[0], pids: forked.map((w) => w.process.pid), warnings, flush, stop }
  } catch (err) {
    await stop()
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/**
 * One request on a new connection: { status, json, setCookie (name → value; '' cleared) }.
 * `cookie` is the Cookie header, `csrf` the x-csrf-token header, `form` a urlencoded body.
 */
function request (port, path, { method = 'GET', cookie, csrf, form } = {}) {
  const headers = {}
  if (cookie) headers.cookie = cookie
  if (csrf) headers['x-csrf-token'] = csrf
  let body
  if (form) {
    body = new URLSearchParams(form).toString()
    headers['content-type'] = 'application/x-www-form-urlencoded'
    headers['content-length'] = Buffer.byteLength(body)
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false, timeout: 10000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { text += d })
      res.on('end', () => {
        const setCookie = new Map()
        for (const sc of res.headers['set-cookie'] || []) {
          const [pair, ...attrs] = sc.split(';').map((s) => s.trim())
          const eq = pair.indexOf('=')
          const cleared = attrs.some((a) => /^max-age=0$/i.test(a))
          setCookie.set(pair.slice(0, eq), cleared ? '' : pair.slice(eq + 1))
        }
        let json = null
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, text, json, setCookie })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** A cookie jar as a Cookie header: applies each answer's Set-Cookie. */
class Jar {
  constructor () { this.cookies = new Map() }
  take (answer) {
    for (const [k, v] of answer.setCookie) {
      if (v === '') this.cookies.delete(k)
      else this.cookies.set(k, v)
    }
    return answer
  }

  header () { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }
}

module.exports = { startCluster, request, Jar }
