'use strict'
// Warnings about deployments that lose sessions: the memory store under several processes, and
// what the core says about a store's configuration (a Redis URL without a prefix).
//
// `memory://` keeps sessions in the process that made them. Under Node's `cluster` (or pm2 in
// cluster mode, which uses it) each worker then knows only its own sessions: a visitor signed
// in by one worker is anonymous on the next, and a form posted to another worker fails as if
// its CSRF token were forged. Nothing fails loudly, so the Express glue checks its manager when
// it is set up and on each request's begin, and `process.emitWarning` is called, once per
// process and kind, when:
//
// - the manager is used in a process other than the one that built it (`manager.forked`: a
//   `fork()` without `exec`, which only native code does in Node);
// - the process is a `cluster` worker (`cluster.isWorker`);
// - in either setup, a request carries a well-formed token this process's store does not know:
//   most likely another worker's, which the warning says (so it does not pass for a CSRF
//   failure or an expired session).
//
// Warnings (not a logger) because a deployment mistake is what they are for: on stderr without
// any configuration, each with a `code` to match in `process.on('warning')`; `--no-warnings`
// silences them. No warning ever contains a token.

const cluster = require('node:cluster')

/** The one-line change every warning names. */
const FIX = "give the manager a store every worker shares: store: 'sqlite:///path/sessions.db' " +
  "(one host) or store: 'redis://host:6379/0?prefix=myapp' (several hosts), and the same pepper in " +
  'every process'

const TYPE = 'TesseraDeploymentWarning'
const CODE = Object.freeze({
  FORKED: 'TESSERA_MEMORY_STORE_FORKED',
  MULTIPROCESS: 'TESSERA_MEMORY_STORE_MULTIPROCESS',
  UNKNOWN_SESSION: 'TESSERA_MEMORY_STORE_UNKNOWN_SESSION',
  STORE: 'TESSERA_STORE_CONFIGURATION'
})

const issued = new Set() // kinds already emitted by this process

function warnOnce (code, message, kind = code) {
  if (issued.has(kind)) return
  issued.add(kind)
  process.emitWarning(`tessera (pid ${process.pid}): ${message}`, { type: TYPE, code })
}

/**
 * What the core says about a store's configuration (a Redis URL without a prefix), once per
 * process and message. The native SessionManager calls this as it is built (index.js registers
 * it).
 */
function storeWarning (message) {
  warnOnce(CODE.STORE, message, `${CODE.STORE}: ${message}`)
}

/** Whether this process is one of several that serve the app (a `cluster` worker). */
function severalProcesses () {
  return cluster.isWorker === true
}

/**
 * Warn (once per process and kind) if `manager` keeps sessions where other processes of the
 * app cannot see them. Returns whether a request's unknown token then deserves a warning of
 * its own (see `unknownSession`): true only for a store that is not shared in such a setup.
 */
function checkManager (manager) {
  if (manager.storeIsShared) return false
  const forked = manager.forked
  const several = severalProcesses()
  if (forked) {
    warnOnce(CODE.FORKED, 'this SessionManager on the memory store was built in another process ' +
      'and is used after a fork(): each process keeps its own copy of the sessions and sees ' +
      `none of the others'. To fix it, ${FIX}.`)
  }
  if (several) {
    warnOnce(CODE.MULTIPROCESS, 'this app runs in a cluster worker (several processes serve it) ' +
      'but its sessions are in the memory store, which each process keeps for itself: a ' +
      'visitor signed in by one worker is anonymous on the others, and their forms fail the ' +
      `CSRF check there. To fix it, ${FIX}.`)
  }
  return forked || several
}

/** A well-formed session cookie this worker's memory store does not know, in a multi-process setup. */
function unknownSession () {
  warnOnce(CODE.UNKNOWN_SESSION, 'a well-formed session cookie is unknown to this worker\'s ' +
    'memory store: it was most likely issued by another worker process, not forged — the ' +
    `visitor looks signed out here and a form they post fails the CSRF check. To fix it, ${FIX}.`)
}

module.exports = { FIX, TYPE, CODE, checkManager, unknownSession, severalProcesses, storeWarning }
