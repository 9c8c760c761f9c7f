'use strict'
// Tessera's error classes. The native addon builds every exception through `makeError`, so a
// failure always arrives as an instance of one of these, with a stable `code`:
//
//   invalid_config     InvalidConfigError      a bad option or an unsafe combination
//   invalid_argument   InvalidArgumentError    an argument Tessera cannot accept (empty user, bad id)
//   data_too_large     DataTooLargeError       session data over maxDataBytes
//   store_unavailable  StoreUnavailableError   the store cannot be reached: treat as not authenticated
//   store_full         StoreFullError          (a StoreUnavailableError) the store is at maxSessions
//                                              and no anonymous session could make room: 503
//   internal           InternalError           a bug (a caught panic), never an abort
//   malformed, unknown, expired_idle, expired_absolute, binding_missing
//                      SessionEndedError       a write or lookup for a session that has ended (or,
//                                              binding_missing, that the request did not prove)
//
// Wrong argument types throw a TypeError (code ERR_INVALID_ARG_TYPE) and absurd sizes a
// RangeError (code ERR_OUT_OF_RANGE), as Node's own APIs do.

class TesseraError extends Error {
  constructor (message, code) {
    super(message)
    this.name = new.target.name
    this.code = code
  }
}

class InvalidConfigError extends TesseraError {}
class InvalidArgumentError extends TesseraError {}
class DataTooLargeError extends TesseraError {}
/** The store cannot be reached. `status` 503 is what Express's default error handler answers;
 * an app's own handler may choose otherwise. */
class StoreUnavailableError extends TesseraError {
  get status () { return 503 }
}
/** The store holds `maxSessions` and none may make room for a new anonymous session (503). */
class StoreFullError extends StoreUnavailableError {}
class InternalError extends TesseraError {}
/** A write or lookup addressed a session that has ended; `code` is the reason. */
class SessionEndedError extends TesseraError {
  get reason () { return this.code }
}

const ErrorCode = Object.freeze({
  INVALID_CONFIG: 'invalid_config',
  INVALID_ARGUMENT: 'invalid_argument',
  DATA_TOO_LARGE: 'data_too_large',
  STORE_UNAVAILABLE: 'store_unavailable',
  STORE_FULL: 'store_full',
  INTERNAL: 'internal'
})

const Reason = Object.freeze({
  MALFORMED: 'malformed',
  UNKNOWN: 'unknown',
  EXPIRED_IDLE: 'expired_idle',
  EXPIRED_ABSOLUTE: 'expired_absolute',
  // A device-bound session whose request carries no current bound cookie: hidden from it, but
  // alive (its owner's browser can still prove it).
  BINDING_MISSING: 'binding_missing'
})

const byCode = {
  invalid_config: InvalidConfigError,
  invalid_argument: InvalidArgumentError,
  data_too_large: DataTooLargeError,
  store_unavailable: StoreUnavailableError,
  store_full: StoreFullError,
  internal: InternalError,
  malformed: SessionEndedError,
  unknown: SessionEndedError,
  expired_idle: SessionEndedError,
  expired_absolute: SessionEndedError,
  binding_missing: SessionEndedError
}

/** Build the exception for `code` (called by the native addon). */
function makeError (code, message) {
  if (code === 'ERR_INVALID_ARG_TYPE' || code === 'ERR_OUT_OF_RANGE') {
    const err = code === 'ERR_INVALID_ARG_TYPE' ? new TypeError(message) : new RangeError(message)
    err.code = code
    return err
  }
  const Class = byCode[code] || TesseraError
  return new Class(message, code)
}

/** Check that the native addon and this file agree on every code. */
function checkCodes (native) {
  const reasons = native.reasonCodes()
  const errors = native.errorCodes()
  const mine = [...Object.values(Reason), ...Object.values(ErrorCode)].sort()
  const theirs = [...reasons, ...errors].sort()
  if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
    throw new Error(`tessera: the native addon's codes ${theirs} differ from lib/errors.js's ${mine}`)
  }
}

module.exports = {
  TesseraError,
  InvalidConfigError,
  InvalidArgumentError,
  DataTooLargeError,
  StoreUnavailableError,
  StoreFullError,
  InternalError,
  SessionEndedError,
  ErrorCode,
  Reason,
  makeError,
  checkCodes
}
