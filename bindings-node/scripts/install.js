'use strict'
// npm's `install` step for a checkout (`npm install ./bindings-node`): a package without its
// native addon cannot load, so when no addon is here — neither the prebuilt one the npm tarball
// carries (`make dist-node`) nor a local build — build the release addon with cargo and say so.
// Nothing to do in the tarball (it ships the addon and no install script) or when the package
// is being developed (`npm ci` inside bindings-node: `make node-build` makes a debug addon).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { addonFiles } = require('../lib/addon.js')

const pkg = path.join(__dirname, '..')

function say (line) { process.stderr.write(`tessera: ${line}\n`) }

function fail (line) {
  say(line)
  process.exit(1)
}

function main () {
  const present = addonFiles(pkg).find((f) => fs.existsSync(f))
  if (present) return
  if (path.resolve(process.env.INIT_CWD || '') === path.resolve(pkg)) {
    say('developing the package itself: no addon built here (make node-build, or npm run build)')
    return
  }
  const cargo = process.env.CARGO || 'cargo'
  const manifest = path.join(pkg, 'Cargo.toml')
  if (!fs.existsSync(manifest)) fail('no prebuilt native addon in this package and no Rust sources to build one from')
  const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) {
    fail('no prebuilt native addon in this package, and building one needs Rust (cargo), which is ' +
      'not on PATH: install Rust (https://rustup.rs), or install the npm tarball that carries the ' +
      'prebuilt addon (make dist-node writes it into dist/)')
  }
  say('no prebuilt native addon: building the release addon with cargo (a few minutes; ' +
    'npm install --foreground-scripts shows the progress)')
  const meta = spawnSync(cargo, ['metadata', '--no-deps', '--format-version', '1', '--manifest-path', manifest],
    { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (meta.status !== 0) fail(`cargo metadata failed:\n${meta.stderr}`)
  const target = JSON.parse(meta.stdout).target_directory
  const build = spawnSync(cargo, ['build', '--release', '-p', 'tessera-node', '--manifest-path', manifest],
    { stdio: ['ignore', 'inherit', 'inherit'] })
  if (build.status !== 0) fail('cargo build failed (see above)')
  const built = path.join(target, 'release', process.platform === 'darwin' ? 'libtessera_node.dylib' : 'libtessera_node.so')
  const dest = path.join(pkg, 'tessera.node')
  fs.copyFileSync(built, dest)
  // The release profile keeps line tables for backtraces; the installed addon does not need them.
  const strip = spawnSync('strip', ['--strip-debug', dest], { stdio: 'inherit' })
  if (strip.error || strip.status !== 0) say('strip is not available: the addon keeps its debug line tables')
  say(`built ${dest} (${(fs.statSync(dest).size / 1048576).toFixed(1)} MB)`)
}

main()
