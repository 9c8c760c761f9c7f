// `make demo` as a person would use it, in Debian's headless Chromium: the Flask, Express and C
// servers on one session store, started by the launcher (demo/launch.py) with short timeouts
// and a test clock. Time moves only when a test advances the three clocks together, so no step
// can time out a session by being slow, and nothing waits for real minutes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  COOKIE,
  ROOT,
  SITES,
  advance,
  alive,
  browserMissing,
  jarCookie,
  launchBrowser,
  request,
  startDemo,
  screenshot as keep,
} from './harness.mjs';

const CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const missing = browserMissing();
const IDLE_MS = 60_000; // TIMEOUTS=short
const RECENT_MS = 30_000; // "Change password" wants a sign-in this recent (TIMEOUTS=short)
// Screenshots are rewritten under tests/browser/screenshots/ only when asked to
// (TESSERA_SCREENSHOTS=update): otherwise each run would leave the committed ones changed.
const UPDATE_SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === 'update';
let scratch; // this run's screenshots otherwise

// Under CI a missing browser is a failure, never a silent skip; elsewhere the suite is skipped
// with the reason (`make test-browser` installs the browser first).
it('Chromium is installed', { skip: missing && !CI ? `${missing}: browser test skipped` : false }, () => {
  assert.equal(missing, null, `${missing}; CI=true requires the browser test to run`);
});

describe('make demo: one session, three languages', { skip: missing ? 'no Chromium' : false }, () => {
  let demo;
  let browser;
  const contexts = [];

  before(async () => {
    [demo, browser] = await Promise.all([
      startDemo({ args: ['--timeouts', 'short'], env: { TESSERA_DEMO_TEST_CLOCK: '1' } }),
      launchBrowser(),
    ]);
  });

  after(async () => {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await browser?.close();
    await demo?.stop();
  });

  const url = (site, path = '/') => `${demo.sites[site]}${path}`;

  /** A new device: its own cookie jar, one page. */
  async function device() {
    const context = await browser.newContext({ viewport: { width: 1024, height: 720 } });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  async function signIn(page, site, user) {
    await page.goto(url(site));
    await page.fill('#user', user);
    await page.fill('#password', `${user}-demo`);
    await page.click('#sign-in');
    await page.waitForURL(url(site, '/account'));
    assert.equal(await page.textContent('#who'), user);
  }

  /** Open `site`'s account page; the signed-in user, or null if sent elsewhere. */
  async function whoOn(page, site) {
    await page.goto(url(site, '/account'));
    return new URL(page.url()).pathname === '/account' ? page.textContent('#who') : null;
  }

  /** The page shows "why you were signed out": its code, and the sentence. */
  async function explanation(page) {
    await page.waitForURL((u) => u.pathname === '/signed-out');
    const why = page.locator('#why');
    return { code: await why.getAttribute('data-why'), text: await why.textContent() };
  }

  async function thisDeviceId(page) {
    return page.locator('tr.session:has(.this-device)').getAttribute('data-id');
  }

  async function screenshot(t, page, name) {
    scratch ??= mkdtempSync(join(tmpdir(), 'tessera-screenshots-'));
    const path = UPDATE_SCREENSHOTS ? await keep(page, name) : join(scratch, `${name}.png`);
    if (!UPDATE_SCREENSHOTS) await page.screenshot({ path });
    // What the picture shows must hold no token (the page holds none either).
    const token = (await jarCookie(page.context()))?.value;
    if (token) assert.ok(!(await page.content()).includes(token), `${name}: no token on the page`);
    t.diagnostic(`screenshot: ${path}`);
  }

  it('keeps the default __Host-session cookie (Secure, HttpOnly, SameSite=Lax) from every server over http://127.0.0.1', async () => {
    for (const site of SITES) {
      const { context, page } = await device();
      await signIn(page, site, 'alice');
      const cookie = await jarCookie(context);
      assert.ok(cookie, `${site}: Chromium kept ${COOKIE}`);
      assert.equal(cookie.value.length, 43, `${site}: a token`);
      assert.equal(cookie.secure, true, `${site}: Secure`);
      assert.equal(cookie.httpOnly, true, `${site}: HttpOnly`);
      assert.equal(cookie.sameSite, 'Lax', `${site}: SameSite=Lax`);
      assert.equal(cookie.path, '/', `${site}: Path=/`);
      assert.equal(cookie.domain, '127.0.0.1', `${site}: host-only, no Domain`);
      assert.equal(cookie.expires, -1, `${site}: a browser-session cookie`);
      const seen = await page.evaluate(() => document.cookie);
      assert.ok(!seen.includes(cookie.value), `${site}: invisible to scripts`);
      assert.ok(!(await page.content()).includes(cookie.value), `${site}: not in the page`);
    }
  });

  it('links the other two servers from each start page and says what to try and what differs', async (t) => {
    const { page } = await device();
    for (const site of SITES) {
      await page.goto(url(site));
      assert.equal(await page.getAttribute('#site', 'data-site'), site);
      const peers = await page.locator('a.peer-link').evaluateAll((as) => as.map((a) => a.href));
      assert.deepEqual(peers.sort(), SITES.filter((s) => s !== site).map((s) => url(s)).sort());
      assert.equal(await page.locator('#try li').count(), 6);
      const differences = await page.locator('#differences').textContent();
      assert.match(differences, /http:\/\/127\.0\.0\.1, no TLS/);
      assert.match(differences, /Device-bound sessions \(dbsc\) are on.*loopback peer.*HTTPS/);
      assert.match(differences, /SQLite/);
      assert.match(differences, /Short timeouts: idle 60 s/);
      assert.match(differences, /TEST CLOCK/);
      if (site === 'flask') await screenshot(t, page, 'start');
    }
  });

  it('signs in on Flask, and the Express and C pages already know the session', async (t) => {
    const { page } = await device();
    await signIn(page, 'flask', 'bob');
    const id = await thisDeviceId(page);
    assert.match(id, /^[0-9a-f]{64}$/);
    for (const site of ['express', 'c']) {
      assert.equal(await whoOn(page, site), 'bob', `${site} knows bob`);
      assert.equal(await thisDeviceId(page), id, `${site} shows the same session`);
      assert.equal(await page.locator('#session-id').textContent(), `${id.slice(0, 12)}…`);
      if (site === 'express') await screenshot(t, page, 'account');
    }
  });

  it('signs a device out from a third server, and that device is told why', async (t) => {
    const phone = await device();
    const laptop = await device();
    await signIn(phone.page, 'express', 'alice');
    const phoneId = await thisDeviceId(phone.page);
    await signIn(laptop.page, 'c', 'alice');
    // From Flask, on the laptop: sign the phone out.
    await laptop.page.goto(url('flask', '/account'));
    await laptop.page.click(`tr.session[data-id="${phoneId}"] button.end-device`);
    await laptop.page.waitForURL(url('flask', '/account'));
    assert.equal(await laptop.page.locator(`tr.session[data-id="${phoneId}"]`).count(), 0);
    // The phone's next click, on the C server.
    await phone.page.goto(url('c', '/account'));
    const why = await explanation(phone.page);
    assert.equal(why.code, 'device');
    assert.match(why.text, /another device.*Flask \(Python\)/);
    assert.equal(await jarCookie(phone.context), undefined, 'the dead cookie was cleared');
    await screenshot(t, phone.page, 'signed-out');
    assert.equal(await whoOn(laptop.page, 'express'), 'alice', 'the laptop stays signed in');
  });

  it('asks before "Sign out everywhere", then ends every session of the user', async (t) => {
    const first = await device();
    const second = await device();
    await signIn(first.page, 'flask', 'bob');
    await signIn(second.page, 'express', 'bob');
    await first.page.goto(url('c', '/account'));
    await first.page.click('#sign-out-everywhere');
    await first.page.waitForURL(url('c', '/logout-everywhere'));
    assert.match(await first.page.textContent('#confirm-what'), /Sign out all \d+ session\(s\) of bob/);
    await screenshot(t, first.page, 'confirm');
    await first.page.click('#cancel'); // changes nothing
    assert.equal(await whoOn(first.page, 'c'), 'bob');
    assert.equal(await whoOn(second.page, 'flask'), 'bob');

    await first.page.click('#sign-out-everywhere');
    await first.page.click('#confirm');
    await first.page.waitForURL(url('c', '/'));
    assert.equal(await first.page.locator('#who').count(), 0, 'signed out here');
    await second.page.goto(url('flask', '/account'));
    const why = await explanation(second.page);
    assert.equal(why.code, 'everywhere');
    assert.match(why.text, /Sign out everywhere.*C \(libmicrohttpd\)/);
  });

  it('lets the administrator end a user\'s sessions after a confirmation', async (t) => {
    const alice = await device();
    const admin = await device();
    await signIn(alice.page, 'flask', 'alice');
    await signIn(admin.page, 'express', 'admin');
    await admin.page.goto(url('c', '/admin'));
    await screenshot(t, admin.page, 'admin');
    const row = admin.page.locator('tr[data-user="alice"]');
    assert.ok(Number(await row.locator('.count').textContent()) >= 1);
    await row.locator('a.end-user').click();
    assert.match(await admin.page.textContent('#confirm-what'), /End all \d+ session\(s\) of alice/);
    await admin.page.click('#confirm');
    await admin.page.waitForURL(url('c', '/admin'));
    assert.equal(await admin.page.locator('tr[data-user="alice"] .count').textContent(), '0');

    await alice.page.goto(url('express', '/account'));
    const why = await explanation(alice.page);
    assert.equal(why.code, 'admin');
    assert.match(why.text, /administrator.*C \(libmicrohttpd\)/);
    assert.equal(await whoOn(admin.page, 'flask'), 'admin', 'the administrator stays signed in');
    // Alice is not an administrator, anywhere.
    await signIn(alice.page, 'c', 'alice');
    for (const site of SITES) {
      const res = await alice.page.goto(url(site, '/admin'));
      assert.equal(res.status(), 403, `${site}: /admin is for the administrator`);
    }
  });

  it('ends an idle session after 60 s of the test clock and says so', async () => {
    const { page } = await device();
    await signIn(page, 'flask', 'bob');
    await advance(demo, IDLE_MS - 1_000);
    assert.equal(await whoOn(page, 'express'), 'bob', 'activity inside the idle timeout keeps it');
    await advance(demo, IDLE_MS);
    await page.goto(url('c', '/account'));
    const why = await explanation(page);
    assert.equal(why.code, 'expired_idle');
    assert.match(why.text, /not used for 1 min 00 s/);
  });

  it('ends an active session at its 5-minute absolute deadline and says so', async () => {
    const { page } = await device();
    await signIn(page, 'express', 'alice');
    for (const site of ['c', 'flask', 'express', 'c', 'flask']) { // 5 × 50 s of activity
      await advance(demo, 50_000);
      assert.equal(await whoOn(page, site), 'alice', `${site}: still alive while active`);
    }
    await advance(demo, 50_000); // 300 s since sign-in
    await page.goto(url('c', '/account'));
    const why = await explanation(page);
    assert.equal(why.code, 'expired_absolute');
    assert.match(why.text, /absolute lifetime of 5 min 00 s/);
  });

  it('rotates the token every 20 s: new cookie, new session id, a "rotated" event, no token in the panel', async () => {
    const { context, page } = await device();
    await signIn(page, 'express', 'bob');
    const before = { cookie: (await jarCookie(context)).value, id: await thisDeviceId(page) };
    // As rendered (the page's own ticking has moved the text since).
    assert.equal(await page.getAttribute('#rotation-left', 'data-left-ms'), '20000');
    await advance(demo, 21_000);
    assert.equal(await whoOn(page, 'flask'), 'bob', 'the rotation keeps the session');
    const afterwards = { cookie: (await jarCookie(context)).value, id: await thisDeviceId(page) };
    assert.notEqual(afterwards.cookie, before.cookie, 'a new token');
    assert.notEqual(afterwards.id, before.id, 'a new public id');
    // The events panel polls /demo/events: wait for it to show the rotation of this session.
    const short = `${afterwards.id.slice(0, 12)}…`;
    await page.waitForFunction((id) => [...document.querySelectorAll('#events-list tr.event')]
      .some((tr) => tr.dataset.kind === 'rotated' && tr.textContent.includes(id)), short);
    const panel = await page.locator('#events').textContent();
    for (const token of [before.cookie, afterwards.cookie]) assert.ok(!panel.includes(token), 'no token in the panel');
    // The old token is no one's session once its grace (10 s) has passed; raw HTTP, one cookie.
    await advance(demo, 11_000);
    const stale = await request(url('c'), 'GET', '/account', { cookie: before.cookie });
    assert.equal(stale.status, 302);
    assert.match(stale.headers.location, /^\/signed-out\?/);
    assert.ok(stale.setCookies.some((c) => c.startsWith(`${COOKIE}=;`) && /Max-Age=0/.test(c)), 'told to drop it');
  });

  it('lets "Change password" through right after sign-in, asks for the password again once the sign-in is 30 s old, then gives a new token', async (t) => {
    for (const site of SITES) {
      const { context, page } = await device();
      await signIn(page, site, 'alice');
      assert.equal(await page.getAttribute('#binding', 'data-binding'), 'unbound', `${site}: Chromium does not bind here`);
      assert.equal(await page.getAttribute('#auth-age', 'data-ago-ms'), '0', `${site}: just signed in`);
      async function change() {
        await page.fill('#new-password', 'a-new-secret');
        await page.click('#change');
        await page.waitForSelector('#changed');
      }
      // Right after sign-in: allowed at once.
      await page.click('#to-change-password');
      await page.waitForURL(url(site, '/change-password'));
      await change();

      // Past max_age (the test clock): the account page says how old the sign-in is...
      await advance(demo, RECENT_MS + 1_000);
      await page.goto(url(site, '/account'));
      assert.equal(await page.getAttribute('#auth-age', 'data-ago-ms'), String(RECENT_MS + 1_000), site);
      const before = (await jarCookie(context)).value; // after this page's rotation, if any
      // ... and the change goes to re-authentication first.
      await page.click('#to-change-password');
      await page.waitForURL((u) => u.pathname === '/reauth');
      assert.equal(new URL(page.url()).searchParams.get('next'), '/change-password', site);
      if (site === 'c') await screenshot(t, page, 'reauth');
      await page.fill('#reauth-password', 'alice-wrong');
      await page.click('#reauth');
      await page.waitForSelector('#error');
      await page.fill('#reauth-password', 'alice-demo');
      await page.click('#reauth');
      await page.waitForURL(url(site, '/change-password'));
      await change();
      if (site === 'flask') await screenshot(t, page, 'password-changed');

      // A new token, and the one before re-authentication is dead at once (no grace).
      const afterwards = (await jarCookie(context)).value;
      assert.notEqual(afterwards, before, `${site}: re-authentication gives a new token`);
      const stale = await request(url(site), 'GET', '/account', { cookie: before });
      assert.equal(stale.status, 302, `${site}: the old cookie no longer works`);
      assert.match(stale.headers.location, /^\/signed-out\?/);
      await page.goto(url(site, '/account'));
      assert.equal(await page.getAttribute('#auth-age', 'data-ago-ms'), '0', `${site}: authenticated just now`);
    }
  });

  it('ticks the countdowns in the page without asking any server', async () => {
    const { page } = await device();
    await signIn(page, 'c', 'alice');
    const requests = [];
    page.on('request', (r) => requests.push(new URL(r.url()).pathname));
    // Rendered with the test clock standing still: exactly the configured times.
    assert.equal(await page.getAttribute('#idle-left', 'data-left-ms'), String(IDLE_MS));
    assert.equal(await page.getAttribute('#rotation-left', 'data-left-ms'), '20000');
    const first = {
      idle: await page.textContent('#idle-left'),
      rotation: await page.textContent('#rotation-left'),
    };
    // The browser's own clock moves the numbers (real seconds, no server involved).
    await page.waitForFunction((was) => document.querySelector('#idle-left').textContent !== was, first.idle);
    await page.waitForFunction((was) => document.querySelector('#rotation-left').textContent !== was, first.rotation);
    assert.deepEqual([...new Set(requests)].filter((p) => p !== '/demo/events'), [],
      'only the events feed, which is outside the session, was requested');
  });
});

// Chromium cannot do DBSC on this machine (docs/dbsc.md §1.9): the scripted client of the Python
// suite plays the browser against the launched demo (dbsc_demo.py). No Chromium needed.
describe('device-bound sessions on the running demo (scripted DBSC client)', () => {
  it('binds a device through each site: all three show it bound with its key, and the long-lived cookie alone is anonymous', async (t) => {
    const demo = await startDemo({ env: { TESSERA_DEMO_TEST_CLOCK: '1' } });
    try {
      const python = process.env.TESSERA_DEMO_PYTHON || join(ROOT, '.venv', 'bin', 'python');
      const script = join(ROOT, 'tests', 'browser', 'dbsc_demo.py');
      const { stdout } = await new Promise((ok, fail) => {
        execFile(python, [script, JSON.stringify(demo.sites)], { timeout: 120_000 }, (err, stdout, stderr) =>
          err ? fail(new Error(`dbsc_demo.py failed:\n${stdout}${stderr}\n${demo.log()}`)) : ok({ stdout }));
      });
      for (const line of stdout.trim().split('\n')) t.diagnostic(line);
      for (const site of SITES) {
        assert.match(stdout, new RegExp(`^${site}: registered, bound on flask, express, c, long-lived cookie alone anonymous$`, 'm'));
      }
    } finally {
      assert.equal(await demo.stop(), 0, demo.log());
    }
  });
});

describe('the launcher (make demo)', { skip: missing ? 'no Chromium' : false }, () => {
  it('runs on the README defaults and stops all three servers on Ctrl-C', async () => {
    // The test clock stands still, so the pages show the configured times exactly.
    const demo = await startDemo({ env: { TESSERA_DEMO_TEST_CLOCK: '1' } });
    let browser;
    try {
      browser = await launchBrowser();
      const page = await browser.newPage();
      await page.goto(`${demo.sites.express}/`);
      const differences = await page.locator('#differences').textContent();
      assert.doesNotMatch(differences, /Short timeouts/);
      await page.fill('#user', 'alice');
      await page.fill('#password', 'alice-demo');
      await page.click('#sign-in');
      await page.waitForURL(`${demo.sites.express}/account`);
      for (const site of SITES) {
        await page.goto(`${demo.sites[site]}/account`);
        const left = async (id) => Number(await page.getAttribute(id, 'data-left-ms'));
        assert.equal(await left('#idle-left'), 30 * 60_000, `${site}: 30 min idle`);
        assert.equal(await left('#absolute-left'), 12 * 3_600_000, `${site}: 12 h absolute`);
        assert.equal(await left('#rotation-left'), 15 * 60_000, `${site}: rotation every 15 min`);
      }
    } finally {
      await browser?.close();
    }
    assert.equal(await demo.stop('SIGINT'), 0, demo.log());
    for (const pid of demo.pids) assert.equal(alive(pid), false, `server ${pid} is gone`);
    assert.match(demo.log(), /demo: stopped/);
  });

  it('refuses a port that is in use, loudly', async () => {
    const taken = net.createServer();
    await new Promise((ok) => taken.listen(0, '127.0.0.1', ok));
    const { port } = taken.address();
    try {
      await assert.rejects(startDemo({ args: ['--port', String(port)] }), (err) => {
        assert.match(err.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
        return true;
      });
    } finally {
      taken.close();
    }
  });
});
