'use strict'
// Entry point of the npm package `tessera`: loads the native addon (built by `napi build` into
// tessera.node), wires its exceptions to the error classes of lib/errors.js, and re-exports it
// with the JavaScript layer: expressSession(), csrfProtection() and the guards requireBound() and
// requireRecent() (lib/express.js) and
// TesseraStore (lib/store.js).
const native = require('./lib/native.js')
const errors = require('./lib/errors.js')

native.__setErrorFactory(errors.makeError)
errors.checkCodes(native)
native.__setWarningSink(require('./lib/deployment.js').storeWarning)

const { expressSession, csrfProtection, requireBound, requireRecent } = require('./lib/express.js')

module.exports = {
  SessionManager: native.SessionManager,
  ManualClock: native.ManualClock,
  version: native.version,
  reasonCodes: native.reasonCodes,
  errorCodes: native.errorCodes,
  Reason: errors.Reason,
  ErrorCode: errors.ErrorCode,
  TesseraError: errors.TesseraError,
  InvalidConfigError: errors.InvalidConfigError,
  InvalidArgumentError: errors.InvalidArgumentError,
  DataTooLargeError: errors.DataTooLargeError,
  StoreUnavailableError: errors.StoreUnavailableError,
  StoreFullError: errors.StoreFullError,
  InternalError: errors.InternalError,
  SessionEndedError: errors.SessionEndedError,
  expressSession,
  csrfProtection,
  requireBound,
  requireRecent,
  // express-session is an optional peer: load the store only when it is asked for.
  get TesseraStore () { return require('./lib/store.js').TesseraStore }
}
