'use strict'
// The native addon, built by `napi build` (npm run build) next to package.json.
const path = require('node:path')

const file = path.join(__dirname, '..', 'tessera.node')
try {
  module.exports = require(file)
} catch (err) {
  err.message = `tessera: cannot load the native addon ${file} (build it with \`npm run build\`): ${err.message}`
  throw err
}
