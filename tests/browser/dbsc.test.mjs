// Device-bound sessions (DBSC) with a real browser: Debian's Chromium, headless, against Tessera's
// core (core/examples/dbsc_localhost) behind a TLS front with a certificate made for this run.
// Sign-in offers a binding, Chromium registers an ES256 software key, the bound cookie proves
// /account, a missing bound cookie makes Chromium hold /account back and refresh first (403 +
// challenge, signed proof, new cookie), and the long-lived cookie replayed alone from Node is
// refused. The order of the browser's requests is read from the TLS front's record of them;
// every wait is a poll for a condition with a deadline. The example runs with an enforcement
// grace of 0, so "fresh" is never the 10 s grace's "pending" and nothing waits 10 s.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { alive, browserMissing } from './harness.mjs';
import {
  DBSC_FEATURES,
  launchChromium,
  makeCertificate,
  opensslMissing,
  startExample,
  startTlsFront,
  until,
} from './dbsc-rig.mjs';

const CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const missing = [browserMissing(), opensslMissing()].filter(Boolean).join('; ') || null;
const SESSION = '__Host-session';
const BOUND = '__Host-session-bound';
const REGISTER = '/_tessera/dbsc/register';
const REFRESH = '/_tessera/dbsc/refresh';

// Under CI a missing browser or openssl is a failure, never a silent skip.
it('Chromium and openssl are installed (DBSC)', { skip: missing && !CI ? `${missing}: DBSC browser test skipped` : false }, () => {
  assert.equal(missing, null, `${missing}; CI=true requires the DBSC browser test to run`);
});

describe('DBSC in Chromium: registration, deferral and refresh, a replay refused', { skip: missing ? 'no Chromium or openssl' : false }, () => {
  let scratch;
  let front;
  let site;
  let origin;
  let chrome;
  let stopped = false;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tessera-dbsc-'));
    const tls = makeCertificate(scratch);
    front = await startTlsFront(tls);
    front.cert = tls.cert;
    origin = `https://localhost:${front.port}`;
    site = await startExample(origin);
    front.setUpstream(site.port);
    chrome = await launchChromium({ profileDir: join(scratch, 'profile'), spki: tls.spki });
  });

  async function stopAll() {
    if (stopped) return null;
    stopped = true;
    const [browser, killedSite] = await Promise.all([chrome?.stop(), site?.stop(), front?.close()]);
    return { browser, killedSite };
  }

  after(async () => {
    await stopAll();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const serverLog = () => site.log();
  const url = (path) => `${origin}${path}`;
  /** The page's "user: …, proof: …" line. */
  const who = () => chrome.page.textContent('p');
  /** The browser's requests, favicon aside (Chromium asks for it on its own schedule). */
  const traffic = (from = 0) => front.exchanges.slice(from).filter((e) => e.path !== '/favicon.ico');
  const jar = async () => (await chrome.cdp.send('Network.getAllCookies')).cookies;
  const describeTraffic = (list) => list
    .map((e) => `${e.method} ${e.path} [${e.cookies.join(' ')}]${e.proof ? ' +proof' : ''} -> ${e.status}${e.challenge ? ' +challenge' : ''}`)
    .join('\n');

  it('sign-in: the response offers a binding and Chromium registers an ES256 key', async () => {
    const { page } = chrome;
    await page.goto(url('/'));
    assert.match(await who(), /user: -, proof: none/);
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/'),
      page.click('#signin'),
    ]);
    await page.locator('h1', { hasText: 'Signed in as alice' }).waitFor();
    const signIn = front.exchanges.find((e) => e.method === 'POST' && e.path === '/');
    assert.equal(signIn.status, 200);
    assert.ok(signIn.setCookies.includes(SESSION), 'the sign-in sets the long-lived cookie');
    assert.match(signIn.registration ?? '', /^\(ES256 RS256\);path="\/_tessera\/dbsc\/register";challenge=/);

    // Chromium's registration POST, answered with the bound cookie, and Tessera's event for it.
    const registration = await until(
      () => front.exchanges.find((e) => e.path === REGISTER && e.status !== null),
      `Chromium's POST ${REGISTER} (flags: --enable-features=${DBSC_FEATURES}); traffic:\n${describeTraffic(front.exchanges)}`,
    );
    assert.equal(registration.method, 'POST');
    assert.ok(registration.proof, 'the registration carries a Secure-Session-Response proof');
    assert.ok(registration.cookies.includes(SESSION));
    assert.equal(registration.status, 200, serverLog());
    assert.deepEqual(registration.setCookies, [BOUND]);
    await until(() => /^ {2}event registered \(ES256\)$/m.test(serverLog()), `Tessera's "registered (ES256)":\n${serverLog()}`);

    // Chromium stores the bound cookie from the registration's answer.
    const bound = await until(async () => (await jar()).find((c) => c.name === BOUND), `${BOUND} in Chromium's jar`);
    assert.equal(bound.secure, true);
    assert.equal(bound.httpOnly, true);
    assert.equal(bound.path, '/');
    assert.equal(bound.domain, 'localhost');
  });

  it('/account is proven by the bound cookie (fresh, no grace)', async () => {
    const from = front.exchanges.length;
    await chrome.page.goto(url('/account'));
    assert.match(await who(), /^user: alice, proof: fresh$/);
    const [account] = traffic(from);
    assert.equal(account.path, '/account');
    assert.deepEqual([SESSION, BOUND].filter((n) => account.cookies.includes(n)), [SESSION, BOUND]);
  });

  it('without its bound cookie, /account is held back until Chromium refreshes (403 + challenge, signed proof, new cookie)', async () => {
    await chrome.cdp.send('Network.deleteCookies', { name: BOUND, url: url('/') });
    assert.equal((await jar()).some((c) => c.name === BOUND), false, 'the bound cookie is deleted');
    const from = front.exchanges.length;
    const logFrom = serverLog().length;

    await chrome.page.goto(url('/account'));
    assert.match(await who(), /^user: alice, proof: fresh$/);

    // The server saw, in this order: the refresh without a proof (403 + challenge), the refresh
    // with the signed proof (200 + a new bound cookie), then /account with that cookie. Had
    // Chromium not deferred /account, it would arrive first, without the bound cookie, and be
    // anonymous (grace 0).
    const seen = traffic(from);
    const shape = seen.map((e) => ({
      request: `${e.method} ${e.path}`,
      bound: e.cookies.includes(BOUND),
      session: e.cookies.includes(SESSION),
      boundId: e.sessionId,
      proof: e.proof,
      status: e.status,
      challenge: e.challenge,
      sets: e.setCookies,
    }));
    assert.deepEqual(shape, [
      { request: `POST ${REFRESH}`, bound: false, session: true, boundId: true, proof: false, status: 403, challenge: true, sets: [] },
      { request: `POST ${REFRESH}`, bound: false, session: true, boundId: true, proof: true, status: 200, challenge: false, sets: [BOUND] },
      { request: 'GET /account', bound: true, session: true, boundId: false, proof: false, status: 200, challenge: false, sets: [] },
    ], describeTraffic(seen));
    const log = serverLog().slice(logFrom);
    assert.match(log, /^ {2}event refreshed \(ES256\)$/m, log);
    assert.doesNotMatch(log, /event binding_missing/, log);
    assert.ok((await jar()).some((c) => c.name === BOUND), 'the refresh stored a new bound cookie');
  });

  it('the long-lived cookie replayed alone from Node is refused (binding_missing); the browser keeps its session', async () => {
    const session = (await jar()).find((c) => c.name === SESSION);
    assert.ok(session, `${SESSION} in Chromium's jar`);
    const logFrom = serverLog().length;
    const stolen = await new Promise((ok, fail) => {
      const req = https.request(url('/account'), {
        ca: front.cert, // trusts this run's certificate only, as Chromium does
        headers: { Cookie: `${SESSION}=${session.value}` },
        agent: false,
      }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { body += chunk; });
        res.on('end', () => ok({ status: res.statusCode, body }));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('the replay got no answer in 10 s')));
      req.on('error', fail);
      req.end();
    });
    assert.equal(stolen.status, 401);
    assert.match(stolen.body, /user: <b>-<\/b>, proof: <b>none<\/b> \(no session: binding_missing\)/);
    assert.match(serverLog().slice(logFrom), /^ {2}event binding_missing \(absent\)$/m);

    // A refusal, not an ending: the browser, which holds the bound cookie, is still signed in.
    await chrome.page.goto(url('/account'));
    assert.match(await who(), /^user: alice, proof: fresh$/);
  });

  it('stops Chromium, the TLS front and the server, leaving no process behind', async (t) => {
    // What the browser sent, for the record (cookie names only).
    t.diagnostic(`traffic:\n${describeTraffic(front.exchanges)}`);
    const pids = { chromium: chrome.pid, server: site.pid };
    const { browser } = await stopAll();
    assert.deepEqual(browser.left, [], 'no Chromium process is left in its process group');
    assert.equal(alive(pids.chromium), false, 'Chromium exited');
    assert.equal(alive(pids.server), false, 'dbsc_localhost exited');
  });
});
