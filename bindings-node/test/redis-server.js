'use strict'
// A private redis-server for one test file (or one benchmark): a free loopback port, no
// persistence, killed when the process ends; and a private three-master Redis Cluster. Without redis-server the Redis tests are skipped,
// except under CI=true, where they fail (`make test` installs redis-server). Defines no tests.
const { spawn, spawnSync } = require('node:child_process')
const net = require('node:net')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** Whether `redis-server` can be run. */
function haveRedis () {
  const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' })
  return !r.error && r.status === 0
}

/**
 * Why the Redis tests cannot run here (a string to skip with), or null when they can. Under
 * CI=true a missing redis-server throws instead: CI must not pass by skipping.
 */
function redisSkipReason () {
  if (haveRedis()) return null
  if (process.env.CI === 'true') {
    throw new Error('redis-server is required under CI=true (make test installs it through scripts/ensure-apt)')
  }
  return 'redis-server is not installed (make test installs it)'
}

/** A free loopback port (the kernel picks one; it is released at once). */
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Send one inline command and read the first reply line (for PING / DEBUG SLEEP). */
function command (port, line, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let buf = ''
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`redis: no reply to ${line} within ${timeoutMs} ms`)) }, timeoutMs)
    sock.on('error', (err) => { clearTimeout(timer); reject(err) })
    sock.on('connect', () => sock.write(line + '\r\n'))
    sock.on('data', (d) => {
      buf += d
      const nl = buf.indexOf('\r\n')
      if (nl >= 0) {
        clearTimeout(timer)
        sock.end()
        resolve(buf.slice(0, nl))
      }
    })
  })
}

const running = new Set()
process.on('exit', () => {
  for (const s of running) s.killNow()
})

class RedisServer {
  constructor (port) {
    this.port = port
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-redis-'))
    this.child = null
    this.paused = false
  }

  /** Start redis-server and wait until it answers PING. */
  async start () {
    this.child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', this.dir, ...(this.extraArgs ?? [])
    ], { stdio: 'ignore' })
    let exited = false
    this.child.on('error', () => { exited = true })
    this.child.on('exit', () => { exited = true })
    running.add(this)
    const deadline = Date.now() + 10000
    for (;;) {
      if (exited) throw new Error(`redis-server exited at start (port ${this.port} taken?)`)
      try {
        if ((await command(this.port, 'PING', 500)) === '+PONG') {
          // A server that lost the port to another process exits at once: make sure it is ours.
          await new Promise((resolve) => setTimeout(resolve, 50))
          if (!exited) return this
        }
      } catch {}
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** A store URL with a key prefix of its own; `params` adds query parameters. */
  url (prefix, params = {}) {
    const q = new URLSearchParams({ prefix, connect_timeout_ms: '1000', command_timeout_ms: '1000', ...params })
    return `redis://127.0.0.1:${this.port}/0?${q}`
  }

  /** The process id (for SIGSTOP / SIGCONT). */
  get pid () { return this.child && this.child.pid }

  /** Freeze the server (SIGSTOP): connections stay open, nothing is answered. */
  pause () {
    process.kill(this.pid, 'SIGSTOP')
    this.paused = true
  }

  /** Let a paused server run again (SIGCONT). */
  resume () {
    process.kill(this.pid, 'SIGCONT')
    this.paused = false
  }

  killNow () {
    if (!this.child) return
    try {
      if (this.paused) process.kill(this.child.pid, 'SIGCONT')
      this.child.kill('SIGKILL')
    } catch {}
    this.child = null
    running.delete(this)
    try { fs.rmSync(this.dir, { recursive: true, force: true }) } catch {}
  }

  /** Kill it (as a crash would) and start it again on the same port, empty. */
  async restart () {
    await this.stop()
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-redis-'))
    return this.start()
  }

  /** Kill it and wait for the process to be gone. */
  async stop () {
    const child = this.child
    if (!child) return
    const gone = new Promise((resolve) => child.once('exit', resolve))
    this.killNow()
    await gone
  }
}

/** Start a private redis-server on a free loopback port (retrying if the port was taken). */
async function startRedis () {
  let last
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new RedisServer(await freePort())
    try {
      return await server.start()
    } catch (err) {
      last = err
      server.killNow()
    }
  }
  throw last
}

/**
 * Why the Redis Cluster tests cannot run here, or null; under CI=true a missing redis-server or
 * redis-cli throws instead.
 */
function clusterSkipReason () {
  const cli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' })
  if (haveRedis() && !cli.error && cli.status === 0) return null
  if (process.env.CI === 'true') {
    throw new Error('redis-server and redis-cli are required under CI=true (make test installs them)')
  }
  return 'redis-server or redis-cli is not installed (make test installs them)'
}

/** A free port whose cluster bus port (+10000) is free too. */
async function freeClusterPort (taken) {
  for (;;) {
    const port = await freePort()
    if (port >= 55000 || taken.includes(port)) continue
    const bus = await new Promise((resolve) => {
      const srv = net.createServer()
      srv.once('error', () => resolve(false))
      srv.listen(port + 10000, '127.0.0.1', () => srv.close(() => resolve(true)))
    })
    if (bus) return port
  }
}

/**
 * A private three-master Redis Cluster (`redis-server --cluster-enabled yes`, joined by
 * `redis-cli --cluster create`); `url(prefix)` names it as `redis+cluster://`, `stop()` ends it.
 */
async function startRedisCluster () {
  const nodes = []
  const ports = []
  for (let i = 0; i < 3; i++) {
    const port = await freeClusterPort(ports)
    const node = new RedisServer(port)
    node.extraArgs = ['--cluster-enabled', 'yes']
    nodes.push(node)
    ports.push(port)
  }
  const stop = async () => { for (const n of nodes) await n.stop() }
  try {
    for (const n of nodes) await n.start()
    const made = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 20000 })
    if (made.status !== 0) throw new Error(`redis-cli --cluster create failed: ${made.stdout}${made.stderr}`)
    const deadline = Date.now() + 20000
    for (const port of ports) {
      for (;;) {
        const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' })
        if (info.stdout.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error('the Redis Cluster did not become ok')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return {
    ports,
    url (prefix) {
      const q = new URLSearchParams({ prefix, connect_timeout_ms: '1000', command_timeout_ms: '2000' })
      return `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}?${q}`
    },
    stop
  }
}

module.exports = { haveRedis, redisSkipReason, clusterSkipReason, startRedis, startRedisCluster, command }
