'use strict'
// The native addon: a local build (tessera.node) or the prebuilt one of the npm tarball
// (lib/addon.js says where each is).
const fs = require('node:fs')
const path = require('node:path')
const { addonFiles } = require('./addon.js')

const files = addonFiles(path.join(__dirname, '..'))
const file = files.find((f) => fs.existsSync(f))
if (file === undefined) {
  throw new Error(`tessera: no native addon for this platform (looked for ${files.join(', ')}): ` +
    'in a checkout, build it with `npm run build` (release) or `make node-build` (debug)')
}
try {
  module.exports = require(file)
} catch (err) {
  err.message = `tessera: cannot load the native addon ${file}: ${err.message}`
  throw err
}
