'use strict'
// The npm tarball of `make dist-node` (TESSERA_NODE_TARBALL, set by `make test-node`) as a user
// gets it: installed into a fresh npm project in a temp dir, with a PATH that does not reach
// cargo (the prebuilt addon must load), then an Express smoke request on 127.0.0.1 and
// `tsc --noEmit --strict` on a TypeScript file using the package's types — with express-session
// nowhere to be found. Express and the TypeScript compiler come from the checkout (the app's own
// dependencies, not the package's). Also the checkout's install script: without an addon and
// without cargo it fails and says why, instead of installing a package that cannot load.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const PKG = path.join(__dirname, '..')
const CHECKOUT_MODULES = path.join(PKG, 'node_modules')
const MAX_BYTES = 5 * 1024 * 1024

/** The environment of a machine without Rust: node and npm on PATH, cargo not. */
function noCargoEnv (extra = {}) {
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` }
  for (const k of ['CARGO', 'CARGO_HOME', 'RUSTUP_HOME', 'RUSTC', 'CARGO_TARGET_DIR', 'INIT_CWD']) delete env[k]
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k]
  return { ...env, ...extra }
}

function run (cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120000, ...opts })
  if (r.error) throw r.error
  return r
}

const tarball = process.env.TESSERA_NODE_TARBALL
let skip = false
if (!tarball) {
  if (process.env.CI === 'true') throw new Error('TESSERA_NODE_TARBALL is not set: run through make test-node')
  skip = 'no tarball (make test-node builds it and sets TESSERA_NODE_TARBALL)'
}

describe('the npm tarball in a fresh project without cargo', { skip }, () => {
  let dir
  let env
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-fresh-'))
    env = noCargoEnv()
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }))
  })
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }) })

  it('is at most 5 MB and installs with npm, cargo out of reach', (t) => {
    const bytes = fs.statSync(tarball).size
    t.diagnostic(`tarball ${path.basename(tarball)}: ${(bytes / 1048576).toFixed(2)} MB`)
    assert.ok(bytes <= MAX_BYTES, `${bytes} bytes > 5 MB`)
    const probe = spawnSync('cargo', ['--version'], { env })
    assert.ok(probe.error && probe.error.code === 'ENOENT', 'cargo is not reachable on this PATH')

    const start = process.hrtime.bigint()
    const r = run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: dir, env })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    assert.equal(r.status, 0, `npm install failed:\n${r.stdout}${r.stderr}`)
    t.diagnostic(`npm install of the tarball: ${(ms / 1000).toFixed(2)} s`)
    const installed = path.join(dir, 'node_modules', 'tessera')
    const files = fs.readdirSync(installed)
    assert.ok(files.includes('tessera.linux-x64-gnu.node'), `the prebuilt addon is installed: ${files}`)
    assert.ok(!files.includes('tessera.node'), 'no local (debug) build ships')
    assert.throws(() => require.resolve('express-session', { paths: [dir] }), /Cannot find module/)
  })

  it('serves an Express request (express-session absent)', () => {
    // Express, the app's dependency, from the checkout: only it, so express-session stays absent.
    const deps = path.join(dir, 'deps')
    fs.mkdirSync(deps)
    fs.symlinkSync(path.join(CHECKOUT_MODULES, 'express'), path.join(deps, 'express'))
    fs.writeFileSync(path.join(dir, 'app.js'), `
      const http = require('node:http')
      const express = require('express')
      const { expressSession, SessionManager } = require('tessera')
      let absent = false
      try { require.resolve('express-session') } catch { absent = true }
      const manager = new SessionManager({ cookieName: 'sid', cookieSecure: false, pepper: 'fresh-project-pepper-0123456789' })
      const app = express()
      app.use(expressSession({ manager }))
      app.get('/', (req, res) => {
        req.session.visits = (req.session.visits || 0) + 1
        res.json({ visits: req.session.visits, id: req.sessionID })
      })
      const server = app.listen(0, '127.0.0.1', () => {
        http.get({ host: '127.0.0.1', port: server.address().port, path: '/', agent: false }, (res) => {
          let body = ''
          res.on('data', (d) => { body += d })
          res.on('end', () => {
            server.close()
            const cookie = (res.headers['set-cookie'] || []).some((c) => c.startsWith('sid='))
            console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(body), cookie, absent }))
          })
        })
      })
    `)
    const r = run(process.execPath, ['app.js'], { cwd: dir, env: { ...env, NODE_PATH: deps }, timeout: 30000 })
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout.trim().split('\n').pop())
    assert.equal(out.status, 200)
    assert.equal(out.body.visits, 1)
    assert.match(out.body.id, /^[0-9a-f]{64}$/)
    assert.equal(out.cookie, true, 'the response set the session cookie')
    assert.equal(out.absent, true, 'express-session is not installed')
  })

  it('its types pass tsc --noEmit --strict without express-session', () => {
    // Only @types/node is visible (typeRoots): no @types/express, no @types/express-session.
    fs.mkdirSync(path.join(dir, 'types'))
    fs.symlinkSync(path.join(CHECKOUT_MODULES, '@types', 'node'), path.join(dir, 'types', 'node'))
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, module: 'commonjs', target: 'es2022', moduleResolution: 'node',
        skipLibCheck: false, typeRoots: ['./types'], types: ['node']
      },
      files: ['main.ts']
    }))
    fs.writeFileSync(path.join(dir, 'main.ts'), `
      import {
        SessionManager, expressSession, csrfProtection, TesseraStore, TesseraError, Reason,
        type Middleware, type TesseraSession, type SessionEvent
      } from 'tessera'

      const manager = new SessionManager({ store: 'sqlite:///tmp/sessions.db', pepper: 'a-long-enough-pepper-value' })
      manager.onEvent((e: SessionEvent) => { if (e.kind === 'rejected') console.log(e.reason) })
      const shared: boolean = manager.storeIsShared
      const forked: boolean = manager.forked
      const sessions: Middleware = expressSession({ manager, csrfHeader: 'x-csrf-token' })
      const csrf: Middleware = csrfProtection({ field: '_csrf' })
      const store = new TesseraStore({ manager })
      const sid: string = store.genid({ headers: {}, method: 'GET' })
      function visits (s: TesseraSession): number { return typeof s.visits === 'number' ? s.visits : 0 }
      async function check (token: string): Promise<boolean> {
        try {
          const v = await manager.validate(token, { https: true })
          return v.valid || v.reason !== Reason.UNKNOWN
        } catch (err) {
          return err instanceof TesseraError && err.code === 'store_unavailable'
        }
      }
      void [shared, forked, sessions, csrf, sid, visits, check]
    `)
    const tsc = path.join(CHECKOUT_MODULES, 'typescript', 'bin', 'tsc')
    const r = run(process.execPath, [tsc, '--noEmit', '--strict', '-p', path.join(dir, 'tsconfig.json')], { cwd: dir, env })
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
  })
})

describe("the checkout's install script", () => {
  let dir
  before(() => {
    // The package's JavaScript without any addon and without Rust sources beside it.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-node-noaddon-'))
    for (const f of ['package.json', 'index.js', 'lib', 'scripts']) fs.cpSync(path.join(PKG, f), path.join(dir, f), { recursive: true })
    fs.copyFileSync(path.join(PKG, 'Cargo.toml'), path.join(dir, 'Cargo.toml'))
  })
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }) })

  it('without an addon and without cargo, fails and says how to get one', () => {
    const r = run(process.execPath, [path.join(dir, 'scripts', 'install.js')], { cwd: dir, env: noCargoEnv({ INIT_CWD: os.tmpdir() }) })
    assert.notEqual(r.status, 0, r.stderr)
    assert.match(r.stderr, /no prebuilt native addon in this package, and building one needs Rust \(cargo\)/)
    assert.match(r.stderr, /make dist-node/)
  })

  it('does nothing where an addon is present, or inside the package itself (npm ci)', () => {
    const own = run(process.execPath, [path.join(dir, 'scripts', 'install.js')], { cwd: dir, env: noCargoEnv({ INIT_CWD: dir }) })
    assert.equal(own.status, 0, own.stderr)
    assert.match(own.stderr, /developing the package itself/)
    fs.writeFileSync(path.join(dir, 'tessera.linux-x64-gnu.node'), '')
    const present = run(process.execPath, [path.join(dir, 'scripts', 'install.js')], { cwd: dir, env: noCargoEnv({ INIT_CWD: os.tmpdir() }) })
    assert.equal(present.status, 0, present.stderr)
    assert.equal(present.stderr, '')
  })

  it('the package without an addon says how to build one when loaded', () => {
    fs.rmSync(path.join(dir, 'tessera.linux-x64-gnu.node'), { force: true })
    const r = run(process.execPath, ['-e', `require(${JSON.stringify(dir)})`], { env: noCargoEnv() })
    assert.notEqual(r.status, 0)
    assert.match(r.stderr, /no native addon for this platform .*npm run build/)
  })
})
