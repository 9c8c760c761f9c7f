// What dbsc.test.mjs runs Chromium against: core/examples/dbsc_localhost behind an in-process
// TLS front with a certificate made for this run, and Chromium launched with DBSC's flags and
// driven over CDP. Chromium 156 offers DBSC only to an HTTPS response whose certificate it
// trusts (not on http://localhost, not with --ignore-certificate-errors), hence the TLS front and
// --ignore-certificate-errors-spki-list. Every piece stops within a bounded time and is killed
// if the test process exits first.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, ROOT } from './harness.mjs';

/** The features the DBSC report found sufficient on Debian's Chromium 156 (and necessary). */
export const DBSC_FEATURES =
  'DeviceBoundSessions,EnableBoundSessionCredentialsSoftwareKeysForManualTesting';

export const EXAMPLE = process.env.TESSERA_DBSC_EXAMPLE
  || join(process.env.CARGO_TARGET_DIR || join(ROOT, 'target'), 'debug', 'examples', 'dbsc_localhost');

/** Why the certificate cannot be made here, or null when it can. */
export function opensslMissing() {
  const run = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return run.status === 0 ? null : 'no openssl CLI (Debian package "openssl")';
}

/** Poll `check` until it returns something truthy (returned); fail after `ms` naming `what`. */
export async function until(check, what, { ms = 30_000, every = 50 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((ok) => setTimeout(ok, every));
  }
}

/**
 * A self-signed P-256 certificate for `localhost`, valid one day, made in `dir` (the run's
 * temporary directory: no key is ever kept). Returns `{ key, cert, spki }`: PEMs and the base64
 * SHA-256 of the certificate's SubjectPublicKeyInfo, as --ignore-certificate-errors-spki-list
 * wants it.
 */
export function makeCertificate(dir) {
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  const run = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost',
  ], { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`openssl req failed (${run.status}): ${run.stderr}`);
  const pem = readFileSync(cert, 'utf8');
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return {
    key: readFileSync(key, 'utf8'),
    cert: pem,
    spki: createHash('sha256').update(der).digest('base64'),
  };
}

/** The names of the cookies in a `Cookie` header (never their values). */
function cookieNames(header) {
  return (header ?? '').split(';').map((p) => p.split('=')[0].trim()).filter(Boolean);
}

/**
 * HTTPS on a free loopback port in front of `http://127.0.0.1:<upstream>` (set once the server
 * is up). Each exchange is recorded in arrival order — what DBSC sent and answered, cookie names
 * only, never a value, proof or challenge — so the test reads the order of the browser's
 * requests from here rather than from timing. Resolves to `{ port, exchanges, setUpstream,
 * close() }`.
 */
export async function startTlsFront({ key, cert }) {
  const exchanges = [];
  let upstream = null;
  const server = https.createServer({ key, cert }, (req, res) => {
    const exchange = {
      method: req.method,
      path: req.url,
      cookies: cookieNames(req.headers.cookie),
      sessionId: 'sec-secure-session-id' in req.headers,
      proof: 'secure-session-response' in req.headers,
      status: null,
      setCookies: [],
      registration: null,
      challenge: false,
    };
    exchanges.push(exchange);
    const up = http.request({
      host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers, agent: false,
    }, (answer) => {
      exchange.status = answer.statusCode;
      exchange.setCookies = (answer.headers['set-cookie'] ?? []).map((c) => c.split('=')[0]);
      exchange.registration = answer.headers['secure-session-registration'] ?? null;
      exchange.challenge = 'secure-session-challenge' in answer.headers;
      res.writeHead(answer.statusCode, answer.rawHeaders);
      answer.pipe(res);
    });
    up.on('error', () => {
      exchange.status = 502;
      res.writeHead(502).end();
    });
    req.pipe(up);
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return {
    port: server.address().port,
    exchanges,
    setUpstream(port) { upstream = port; },
    close() {
      server.closeAllConnections();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}

/**
 * Spawn `child`, read its stderr into `log()`, resolve once `pattern` matches it (its match), or
 * fail after `ms` with what it printed. The child is SIGKILLed if this process exits first.
 */
function spawnUntil(command, args, pattern, what, { ms = 60_000, ...options } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  let log = '';
  let exited = null;
  const exit = new Promise((ok) => child.once('exit', (code, signal) => ok((exited = { code, signal }))));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { log += chunk; });
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} not ready in ${ms} ms:\n${log}`)), ms);
    const look = () => {
      const match = pattern.exec(log);
      if (match) {
        clearTimeout(timer);
        child.stderr.off('data', look);
        ok(match);
      }
    };
    child.stderr.on('data', look);
    child.once('error', (err) => { clearTimeout(timer); fail(err); });
    exit.then(() => {
      clearTimeout(timer);
      fail(new Error(`${what} exited (${JSON.stringify(exited)}) before it was ready:\n${log}`));
    });
  });
  return { child, exit, ready, log: () => log, exited: () => exited };
}

/** Wait for `exit` at most `ms`; whether it came. */
async function exitedWithin(exit, ms) {
  let timer;
  const late = new Promise((ok) => { timer = setTimeout(() => ok(false), ms); });
  const done = await Promise.race([exit.then(() => true), late]);
  clearTimeout(timer);
  return done;
}

/**
 * core/examples/dbsc_localhost on a free loopback port, the browser-facing origin `origin` in
 * its session config, and the enforcement grace at 0 so that the bound cookie is required from
 * the first request after registration (no 10 s of wall time to wait out). Its stderr is the
 * request and event log. Resolves to `{ port, pid, log(), stop() }`.
 */
export async function startExample(origin) {
  if (!existsSync(EXAMPLE)) {
    throw new Error(`no ${EXAMPLE}: build it (cargo build -p tessera-core --example dbsc_localhost, or make test-browser)`);
  }
  const run = spawnUntil(EXAMPLE, ['0', origin, '--enforce-grace-ms', '0'],
    /^dbsc_localhost: 127\.0\.0\.1:(\d+),/m, 'dbsc_localhost');
  const killOnExit = () => run.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  run.exit.then(() => process.off('exit', killOnExit));
  const [, port] = await run.ready;
  return {
    port: Number(port),
    pid: run.child.pid,
    log: run.log,
    /** SIGTERM, SIGKILL after 5 s; whether it had to be killed. */
    async stop() {
      if (run.exited()) return false;
      run.child.kill('SIGTERM');
      if (await exitedWithin(run.exit, 5_000)) return false;
      run.child.kill('SIGKILL');
      await run.exit;
      return true;
    },
  };
}

/**
 * Live (non-zombie) processes of process group `pgid`, or whose command line names `marker` (the
 * profile directory: a Chromium process that left the group would still name it), from /proc.
 * Chromium's crashpad handlers name neither; they end with the browser they watch.
 */
export function leftovers(pgid, marker) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let stat;
    let cmdline;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so cut at the last ')'.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state !== 'Z' && (Number(pgrp) === pgid || cmdline.includes(marker))) found.push(Number(name));
  }
  return found;
}

/**
 * Debian's Chromium, headless, with a fresh profile in `profileDir`, trusting only the
 * certificate whose SPKI hash is `spki`, DBSC on with a software key, and a DevTools port that
 * playwright-core connects to (its own launcher adds flags and refuses --user-data-dir). Its own
 * process group, so that stopping it reaches every Chromium process. Resolves to `{ browser,
 * context, page, cdp, pid, args, stop() }`.
 */
export async function launchChromium({ profileDir, spki }) {
  const args = [
    ...CHROMIUM_ARGS,
    `--user-data-dir=${profileDir}`,
    '--remote-debugging-port=0',
    `--ignore-certificate-errors-spki-list=${spki}`,
    `--enable-features=${DBSC_FEATURES}`,
    'about:blank',
  ];
  const run = spawnUntil(CHROMIUM, args, /DevTools listening on (ws:\/\/\S+)/, 'Chromium', { detached: true });
  const pgid = run.child.pid;
  const killGroup = (signal) => {
    try {
      process.kill(-pgid, signal);
    } catch (err) {
      if (err.code !== 'ESRCH') throw err;
    }
  };
  const killOnExit = () => killGroup('SIGKILL');
  process.once('exit', killOnExit);
  let browser;
  try {
    const [, endpoint] = await run.ready;
    browser = await chromium.connectOverCDP(endpoint, { timeout: 30_000 });
  } catch (err) {
    killGroup('SIGKILL');
    throw err;
  }
  const context = browser.contexts()[0];
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] ?? (await context.newPage());
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  return {
    browser,
    context,
    page,
    cdp,
    pid: pgid,
    args,
    log: run.log,
    /**
     * Close the CDP connection, SIGTERM the whole group (closing the connection does not end a
     * browser we launched), SIGKILL what is left after 10 s. Resolves to the members still
     * alive after all that (none expected) and whether SIGKILL was needed.
     */
    async stop() {
      await browser.close().catch(() => {});
      killGroup('SIGTERM');
      let killed = false;
      const gone = () => leftovers(pgid, profileDir).length === 0;
      const deadline = Date.now() + 10_000;
      while (!gone() && Date.now() < deadline) await new Promise((ok) => setTimeout(ok, 100));
      if (!gone()) {
        killed = true;
        killGroup('SIGKILL');
        const hard = Date.now() + 5_000;
        while (!gone() && Date.now() < hard) await new Promise((ok) => setTimeout(ok, 100));
      }
      await exitedWithin(run.exit, 5_000);
      process.off('exit', killOnExit);
      return { left: leftovers(pgid, profileDir), killed };
    },
  };
}
