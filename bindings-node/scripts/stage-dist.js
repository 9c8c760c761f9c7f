'use strict'
// `make dist-node`: the npm tarball. Stages the package's files (package.json's `files`, less
// any local addon build) with the release addon under napi-rs's prebuilt name for this platform
// (tessera.linux-x64-gnu.node, next to the loader that looks for it: lib/addon.js), stripped of
// the line tables the release profile keeps, and without the checkout's install script (the
// addon is there) or its devDependencies; then `npm pack`.
//
//   node scripts/stage-dist.js <built addon (.so)> <output folder>
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformSuffix } = require('../lib/addon.js')

const [built, out] = process.argv.slice(2)
if (!built || !out) throw new Error('usage: node scripts/stage-dist.js <addon .so> <output folder>')
const pkgDir = path.join(__dirname, '..')
const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))

const stage = path.join(out, 'package')
fs.rmSync(stage, { recursive: true, force: true })
fs.mkdirSync(stage, { recursive: true })
for (const entry of manifest.files) {
  if (entry.endsWith('.node')) continue // the local build (debug, most likely) never ships
  const from = path.join(pkgDir, entry)
  if (!fs.existsSync(from)) throw new Error(`package.json lists ${entry}, which does not exist`)
  fs.cpSync(from, path.join(stage, entry), { recursive: true })
}
const addon = path.join(stage, `tessera.${platformSuffix()}.node`)
fs.copyFileSync(built, addon)
execFileSync('strip', ['--strip-unneeded', addon], { stdio: 'inherit' })

// The scripts are the checkout's (build, test, the install step that builds a missing addon).
delete manifest.scripts
delete manifest.devDependencies
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')

for (const f of fs.readdirSync(out)) if (/^tessera-\d.*\.tgz$/.test(f)) fs.rmSync(path.join(out, f))
const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: stage, encoding: 'utf8' }).trim().split('\n').pop()
const tarball = path.join(out, name)
const mb = (n) => (n / 1048576).toFixed(2)
console.log(`${tarball}: ${mb(fs.statSync(tarball).size)} MB (addon ${mb(fs.statSync(addon).size)} MB unpacked)`)
