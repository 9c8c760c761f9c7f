// Shared pieces of the browser test: the demo app as a child process on a free loopback port,
// Debian's Chromium through playwright-core, and raw HTTP with Node's own http module.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COOKIE = 'tessera_demo';
export const HOST = '127.0.0.1';

// The system browser only: playwright-core never downloads one of its own.
export const CHROMIUM = process.env.TESSERA_CHROMIUM || '/usr/bin/chromium';
// TOOLCHAIN.md's flags. Playwright adds --headless itself (headless: true) and gives each launch
// a fresh temporary --user-data-dir (it refuses one in `args`), removed when the browser closes.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

/** Why the browser cannot run here, or null when it can. */
export function browserMissing() {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (Debian package "chromium")`;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/** The interpreter of the venv `make python-build` fills (or $VIRTUAL_ENV's, or $TESSERA_PYTHON). */
function python() {
  if (process.env.TESSERA_PYTHON) return process.env.TESSERA_PYTHON;
  const venv = process.env.VIRTUAL_ENV || join(ROOT, '.venv');
  const candidate = join(venv, 'bin', 'python');
  return existsSync(candidate) ? candidate : 'python3';
}

async function freePort() {
  const server = net.createServer();
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, HOST, ok);
  });
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

// `python -m demo`, except that on Linux the demo gets SIGTERM when this test process dies,
// however it dies (PR_SET_PDEATHSIG): an interrupted run leaves no server behind.
const DEMO_MAIN = `
import ctypes, runpy, signal
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))
except (AttributeError, OSError):
    pass
runpy.run_module("demo", run_name="__main__", alter_sys=True)
`;

/**
 * Start `python -m demo` from bindings-python/ on a free loopback port; resolves once it answers
 * GET /login. Retries on another port if the child dies first (the port was taken between
 * choosing and binding it). `settings` become TESSERA_DEMO_* variables.
 */
export async function startDemo(settings, { attempts = 3, timeoutMs = 30_000 } = {}) {
  let lastError;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const port = await freePort();
    const env = { ...process.env, PYTHONUNBUFFERED: '1', TESSERA_DEMO_PORT: String(port) };
    for (const [key, value] of Object.entries(settings)) env[`TESSERA_DEMO_${key}`] = String(value);
    const child = spawn(python(), ['-c', DEMO_MAIN], {
      cwd: join(ROOT, 'bindings-python'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Read both pipes all the time: a full pipe would block the server.
    let log = '';
    child.stdout.on('data', (chunk) => { log += chunk; });
    child.stderr.on('data', (chunk) => { log += chunk; });
    let exited = null;
    const exit = new Promise((ok) => {
      child.once('exit', (code, signal) => ok((exited = { code, signal })));
      child.once('error', (error) => ok((exited = { error: error.message })));
    });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    exit.then(() => process.off('exit', killOnExit));
    const demo = {
      port,
      origin: `http://${HOST}:${port}`,
      log: () => log,
      async stop() {
        if (exited === null) {
          child.kill('SIGTERM');
          const stopped = await Promise.race([exit, sleep(5_000, false)]);
          if (!stopped) child.kill('SIGKILL');
        }
        await exit;
      },
    };
    const deadline = Date.now() + timeoutMs;
    while (exited === null && Date.now() < deadline) {
      try {
        const res = await request(demo.origin, 'GET', '/login');
        if (res.status === 200) return demo;
      } catch {
        // Not listening yet.
      }
      await sleep(100);
    }
    await demo.stop();
    lastError = new Error(
      `the demo did not answer on port ${port} (attempt ${attempt}, exit ${JSON.stringify(exited)}):\n${log}`,
    );
  }
  throw lastError;
}

/**
 * One raw HTTP request (no cookie jar, no redirects followed). `cookie` is the bare token sent as
 * `tessera_demo=<cookie>`; `form` an object sent urlencoded. Resolves to
 * `{ status, headers, body, setCookies }`.
 */
export function request(origin, method, path, { cookie, form } = {}) {
  const headers = {};
  if (cookie !== undefined) headers.Cookie = `${COOKIE}=${cookie}`;
  let body;
  if (form !== undefined) {
    body = new URLSearchParams(form).toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((ok, fail) => {
    const req = http.request(`${origin}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => ok({
        status: res.statusCode,
        headers: res.headers,
        body: text,
        setCookies: res.headers['set-cookie'] ?? [],
      }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on('error', fail);
    req.end(body);
  });
}

/** The session cookie in a browser context's jar, or undefined. */
export async function jarCookie(context, origin, name = COOKIE) {
  const cookies = await context.cookies(origin);
  return cookies.find((c) => c.name === name);
}

/** A fresh temporary directory (for the screenshot). */
export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}
