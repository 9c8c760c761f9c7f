'use strict'
// Preloaded into every test process by `make test-redaction` (mk/redaction.mk):
//
//   node --trace-warnings --trace-uncaught --require ./redaction-preload.js --test test/
//
// It does nothing unless TESSERA_REDACTION_DIR is set. Then, in each process:
// - every SessionManager gets, on first use, an event listener that logs every event (the most
//   verbose logging Tessera offers in Node) to $TESSERA_REDACTION_DIR/logs/node-<pid>.log, with
//   every exception a native call throws or rejects with (name, code, message, stack) and every
//   process warning (a listener that throws is reported as one);
// - every token the suite sees is recorded: each SessionManager method and each function of the
//   native addon is wrapped, unchanged in behaviour, to record the tokens in its arguments and
//   results (`newToken`, `token`, `setCookie`, ...), and so are the `Set-Cookie` headers any
//   http server in the process sends. At exit they are written, one per line, to
//   $TESSERA_REDACTION_DIR/tokens/node/<pid>.txt, outside the scanned logs, for
//   scripts/redaction-scan to look for in everything captured.
// Nothing here logs an argument or a result: those hold tokens.
//
// The file sits next to package.json, not in test/: `node --test test/` (package.json's test
// script) runs every .js file under test/ as a test file on Node 20.
const dir = process.env.TESSERA_REDACTION_DIR
if (dir) install(dir)

function install (dir) {
  const fs = require('node:fs')
  const http = require('node:http')
  const path = require('node:path')
  const util = require('node:util')

  const logDir = path.join(dir, 'logs')
  const tokenDir = path.join(dir, 'tokens', 'node')
  fs.mkdirSync(logDir, { recursive: true })
  fs.mkdirSync(tokenDir, { recursive: true })
  const logFile = path.join(logDir, `node-${process.pid}.log`)
  const tokenFile = path.join(tokenDir, `${process.pid}.txt`)

  const logFd = fs.openSync(logFile, 'a')
  function log (line) {
    fs.writeSync(logFd, `${new Date().toISOString()} [${process.pid}] ${line}\n`)
  }

  // ---- recording tokens --------------------------------------------------------------------
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const TOKEN = /^[A-Za-z0-9_-]{43}$/
  const RUN = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g
  const LONGEST = 1 << 16 // longer strings are hostile inputs (up to 1 GiB), not tokens
  const tokens = new Set()

  function canonical (s) {
    return TOKEN.test(s) && ALPHABET.indexOf(s[42]) % 4 === 0
  }

  function record (value, depth = 0) {
    if (typeof value === 'string') {
      if (value.length < 43 || value.length > LONGEST) return
      if (canonical(value)) {
        tokens.add(value)
        return
      }
      for (const m of value.matchAll(RUN)) if (canonical(m[0])) tokens.add(m[0])
    } else if (Buffer.isBuffer(value)) {
      if (value.length <= LONGEST) record(value.toString('latin1'), depth)
    } else if (Array.isArray(value) && depth < 3 && !util.types.isProxy(value)) {
      for (const v of value) record(v, depth + 1)
    } else if (isPlain(value) && depth < 3) {
      // Own data properties only: no getter runs, no Proxy trap fires, nothing changes.
      for (const d of Object.values(Object.getOwnPropertyDescriptors(value))) {
        if ('value' in d) record(d.value, depth + 1)
      }
    }
  }

  function isPlain (value) {
    if (value === null || typeof value !== 'object' || util.types.isProxy(value)) return false
    const proto = Object.getPrototypeOf(value)
    return proto === Object.prototype || proto === null
  }

  function flush () {
    fs.writeFileSync(tokenFile, [...tokens].map((t) => t + '\n').join(''))
  }
  process.on('exit', flush)

  // ---- logging events, exceptions and warnings --------------------------------------------
  function logError (where, err) {
    const e = err instanceof Error ? err : new Error(String(err))
    log(`${where} threw ${e.name} code=${e.code}: ${e.message}\n${e.stack}`)
  }

  function logEvent (event) {
    log(`event ${event.kind} ${util.inspect(event, { breakLength: Infinity })}`)
  }

  process.on('warning', (w) => log(`warning ${w.name} code=${w.code}: ${w.message}\n${w.stack}`))

  // ---- wrapping the native addon ------------------------------------------------------------
  const native = require('./lib/native.js') // the module index.js loads, from the same cache
  const Manager = native.SessionManager
  const onEvent = Manager.prototype.onEvent
  const listened = new WeakSet()

  function listen (manager) {
    if (!(manager instanceof Manager) || listened.has(manager)) return
    listened.add(manager)
    try {
      onEvent.call(manager, logEvent)
    } catch (err) {
      logError('onEvent (redaction listener)', err)
    }
  }

  function wrap (where, original, before) {
    return function (...args) {
      before(this)
      record(args)
      let result
      try {
        result = original.apply(this, args)
      } catch (err) {
        logError(where, err)
        throw err
      }
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
        result.then((v) => record(v), (err) => logError(where, err))
      } else {
        record(result)
      }
      return result
    }
  }

  for (const name of Object.getOwnPropertyNames(Manager.prototype)) {
    const d = Object.getOwnPropertyDescriptor(Manager.prototype, name)
    if (name === 'constructor' || typeof d.value !== 'function') continue
    d.value = wrap(`SessionManager.${name}`, d.value, listen)
    Object.defineProperty(Manager.prototype, name, d)
  }
  for (const name of Object.keys(native)) {
    const d = Object.getOwnPropertyDescriptor(native, name)
    if (typeof d.value !== 'function' || /^[A-Z]/.test(name) || !d.writable) continue
    native[name] = wrap(name, d.value, () => {})
  }

  // ---- Set-Cookie headers of every http server in the process -------------------------------
  const proto = http.OutgoingMessage.prototype
  for (const name of ['setHeader', 'appendHeader']) {
    const original = proto[name]
    if (typeof original !== 'function') continue
    proto[name] = function (header, value) {
      if (typeof header === 'string' && header.toLowerCase() === 'set-cookie') record(value)
      return original.apply(this, arguments)
    }
  }
  const writeHead = http.ServerResponse.prototype.writeHead
  http.ServerResponse.prototype.writeHead = function (...args) {
    for (const a of args) if (a !== null && typeof a === 'object') record(a)
    return writeHead.apply(this, args)
  }

  log(`redaction preload: recording tokens, logging events of every SessionManager (${process.argv.slice(1).join(' ')})`)
}
