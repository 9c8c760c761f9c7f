// Shared pieces of the browser suite: `make demo`'s launcher (demo/launch.py: the Flask,
// Express and C servers on one store) as a child process on free loopback ports, Debian's
// Chromium through playwright-core, raw HTTP with Node's own http module, and the servers'
// test clock.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COOKIE = '__Host-session';
export const HOST = '127.0.0.1';
export const SITES = ['flask', 'express', 'c'];
export const SCREENSHOTS = join(ROOT, 'tests', 'browser', 'screenshots');

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

/** Whether process `pid` still exists. */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/**
 * Start `python3 demo/launch.py` (what `make demo` runs) on free ports, with `args` and `env`
 * added; resolves once it printed its "demo: ready" line: `{ sites: {flask, express, c}, pids,
 * log(), stop(signal) }`. `stop` sends the signal (Ctrl-C is SIGINT) and resolves with the
 * launcher's exit code once it has exited. The launcher's servers die with it, however it dies
 * (PR_SET_PDEATHSIG), and it is killed when this process exits.
 */
export async function startDemo({ args = [], env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn('python3', [join(ROOT, 'demo', 'launch.py'), '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, PYTHONUNBUFFERED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Read both pipes all the time: a full pipe would block the servers.
  let log = '';
  let exited = null;
  const exit = new Promise((ok) => {
    child.once('exit', (code, signal) => ok((exited = { code, signal })));
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  exit.then(() => process.off('exit', killOnExit));
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the demo was not ready in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const read = (chunk) => {
      log += chunk;
      const line = /^demo: ready (.*)$/m.exec(log);
      if (line) {
        clearTimeout(timer);
        ok(JSON.parse(line[1]));
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', (chunk) => { log += chunk; });
    exit.then(() => {
      clearTimeout(timer);
      fail(new Error(`the demo exited (${JSON.stringify(exited)}) before it was ready:\n${log}`));
    });
  });
  const { sites, pids } = await ready;
  return {
    sites,
    pids,
    log: () => log,
    async stop(signal = 'SIGTERM') {
      if (exited === null) child.kill(signal);
      return (await exit).code;
    },
  };
}

/** Move the test clock of the three servers by `ms` (they must agree on the time). */
export async function advance(demo, ms) {
  for (const site of SITES) {
    const res = await request(demo.sites[site], 'POST', '/__advance', { json: { ms } });
    if (res.status !== 200) throw new Error(`${site}: /__advance answered ${res.status}`);
  }
}

/**
 * One raw HTTP request (no cookie jar, no redirects followed). `cookie` is the bare token sent as
 * `__Host-session=<cookie>`; `form` an object sent urlencoded, `json` one sent as JSON.
 * Resolves to `{ status, headers, body, setCookies }`.
 */
export function request(origin, method, path, { cookie, form, json } = {}) {
  const headers = {};
  if (cookie !== undefined) headers.Cookie = `${COOKIE}=${cookie}`;
  let body;
  if (form !== undefined) {
    body = new URLSearchParams(form).toString();
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (json !== undefined) {
    body = JSON.stringify(json);
    headers['Content-Type'] = 'application/json';
  }
  if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
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

/** The session cookie in a browser context's jar, or undefined (cookies are not port-scoped). */
export async function jarCookie(context, name = COOKIE) {
  const cookies = await context.cookies(`http://${HOST}/`);
  return cookies.find((c) => c.name === name);
}

/** A small PNG of the page under tests/browser/screenshots/ (committed, for reviewers). */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}
