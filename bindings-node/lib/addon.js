'use strict'
// Where the native addon may be, in the order it is looked for: a local build (`napi build`,
// `make node-build`, the install script of a checkout) as tessera.node, then the prebuilt addon
// the npm tarball carries under napi-rs's name for this platform (tessera.linux-x64-gnu.node).
const path = require('node:path')

/** napi-rs's platform suffix: `linux-x64-gnu`, `linux-x64-musl`, `darwin-arm64`, … */
function platformSuffix () {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  const glibc = report && report.header && report.header.glibcVersionRuntime
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

/** The files the addon may be in under the package folder `dir`. */
function addonFiles (dir) {
  return [path.join(dir, 'tessera.node'), path.join(dir, `tessera.${platformSuffix()}.node`)]
}

module.exports = { addonFiles, platformSuffix }
