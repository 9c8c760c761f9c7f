// The Python demo app (bindings-python/demo) in Debian's headless Chromium, driven by
// playwright-core over loopback: what a real browser does with Tessera's session cookie.
// Run with `make test-browser` (or `npm test` here once `make python-build` has filled the venv).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  COOKIE,
  browserMissing,
  jarCookie,
  launchBrowser,
  request,
  startDemo,
  tempDir,
} from './harness.mjs';

const IDLE_S = 4; // short, so the idle-timeout test waits only a few seconds
// Two demo processes: one with the short idle timeout, for the idle test alone, and one whose
// idle timeout no step of the other tests can reach however slow the machine is (with 4 s
// everywhere, a busy machine could time a session out between two steps of an unrelated test).
// Rotation is far away in both: every cookie change seen here comes from a sign-in or sign-out.
const SHORT_IDLE = { IDLE: IDLE_S, ABSOLUTE: 3600, ROTATION: 3600, GRACE: 1 }; // GRACE < IDLE
const LONG_IDLE = { IDLE: 600, ABSOLUTE: 3600, ROTATION: 3600, GRACE: 10 };
const CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');
const missing = browserMissing();

// Under CI a missing browser is a failure, never a silent skip; elsewhere the suite is skipped
// with the reason (`make test-browser` installs the browser first).
it('Chromium is installed', { skip: missing && !CI ? `${missing}: browser test skipped` : false }, () => {
  assert.equal(missing, null, `${missing}; CI=true requires the browser test to run`);
});

describe('the demo in headless Chromium', { skip: missing ? 'no Chromium' : false }, () => {
  let demo; // LONG_IDLE
  let idleDemo; // SHORT_IDLE
  let browser;
  const contexts = [];

  before(async () => {
    [demo, idleDemo, browser] = await Promise.all([
      startDemo(LONG_IDLE),
      startDemo(SHORT_IDLE),
      launchBrowser(),
    ]);
  });

  after(async () => {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await browser?.close();
    await Promise.allSettled([demo?.stop(), idleDemo?.stop()]);
  });

  /** A new isolated browser context (own cookie jar) and a page in it, on `site`. */
  async function fresh(site = demo) {
    const context = await browser.newContext({ baseURL: site.origin });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    const page = await context.newPage();
    return { context, page };
  }

  async function cookieValue(context, site = demo) {
    return (await jarCookie(context, site.origin))?.value;
  }

  async function signIn(page, user, password) {
    await page.goto('/login');
    await page.fill('#user', user);
    await page.fill('#password', password);
    await page.click('#sign-in');
    await page.waitForURL(/\/account$/);
    assert.equal(await page.textContent('#who'), user);
  }

  /** The browser shows the sign-in page and nobody is signed in. */
  async function assertSignedOut(page) {
    assert.match(new URL(page.url()).pathname, /^\/login$/);
    assert.equal(await page.locator('#sign-in').count(), 1, 'the sign-in form is shown');
    assert.equal(await page.locator('#who').count(), 0, 'nobody is signed in');
  }

  /** Raw HTTP with only this cookie: the session is alive and belongs to `user`. */
  async function assertLive(cookie, user) {
    const res = await request(demo.origin, 'GET', '/account', { cookie });
    assert.equal(res.status, 200, 'the cookie is accepted before the check that follows');
    assert.match(res.body, new RegExp(`Hello, ${user}`));
  }

  /** Raw HTTP with only this cookie: refused, sent to /login, and told to forget the cookie. */
  async function assertRefused(cookie, what, site = demo) {
    const res = await request(site.origin, 'GET', '/account', { cookie });
    assert.equal(res.status, 302, `${what}: /account must redirect, got ${res.status}`);
    assert.equal(new URL(res.headers.location, site.origin).pathname, '/login', what);
    assert.ok(
      res.setCookies.some((c) => c.startsWith(`${COOKIE}=;`) && /Max-Age=0/i.test(c)),
      `${what}: the response clears the cookie (${res.setCookies})`,
    );
    assert.doesNotMatch(res.body, /Hello,/);
  }

  it('keeps the session cookie out of document.cookie (HttpOnly) while the jar holds it', async () => {
    const { context, page } = await fresh();
    for (const step of ['before sign-in', 'after sign-in']) {
      if (step === 'after sign-in') await signIn(page, 'alice', 'alice-demo');
      else await page.goto('/login');
      // Before sign-in the form's CSRF token is bound to a visitor cookie (no server state);
      // it gets the session cookie's protections all the same.
      const name = step === 'before sign-in' ? `${COOKIE}-csrf` : COOKIE;
      const cookie = await jarCookie(context, demo.origin, name);
      assert.ok(cookie, `${step}: the jar holds ${name}`);
      assert.ok(cookie.value.length >= 32, `${step}: a real token`);
      assert.equal(cookie.httpOnly, true, `${step}: HttpOnly`);
      assert.equal(cookie.sameSite, 'Lax', `${step}: SameSite=Lax`);
      assert.equal(cookie.path, '/', `${step}: Path=/`);
      assert.equal(cookie.domain, '127.0.0.1', `${step}: host-only, no Domain attribute`);
      assert.equal(cookie.expires, -1, `${step}: a browser-session cookie, never persistent`);
      // cookie.secure is false only because the demo is plain HTTP on loopback.

      const seen = await page.evaluate(() => document.cookie);
      assert.ok(!seen.includes(name) && !seen.includes(cookie.value), `${step}: document.cookie = ${JSON.stringify(seen)}`);
      // The token is in no URL and nowhere in the page either.
      assert.ok(!page.url().includes(cookie.value), `${step}: token in the URL`);
      assert.ok(!(await page.content()).includes(cookie.value), `${step}: token in the page`);

      // A script cannot overwrite (fixate) an HttpOnly cookie either.
      await page.evaluate((n) => { document.cookie = `${n}=forged-by-script; path=/`; }, name);
      assert.equal((await jarCookie(context, demo.origin, name)).value, cookie.value, `${step}: script overwrote the cookie`);
    }
  });

  it('changes the cookie at sign-in and refuses the pre-sign-in cookie afterwards', async () => {
    const { context, page } = await fresh();
    await page.goto('/login');
    assert.equal(await cookieValue(context), undefined, 'the sign-in form costs no server-side session');
    // A fixation attempt: a well-formed session cookie planted before sign-in.
    const before = 'A'.repeat(43);
    await context.addCookies([{ name: COOKIE, value: before, url: demo.origin, httpOnly: true, sameSite: 'Lax' }]);
    await signIn(page, 'alice', 'alice-demo');
    const after = await cookieValue(context);
    assert.ok(after, 'signed in with a cookie');
    assert.notEqual(after, before, 'sign-in must issue a new session identifier, never adopt the planted one');
    await assertLive(after, 'alice');
    // The session id the page shows (in "Sign out this device") is no cookie either.
    const action = await page.locator('#sessions form').first().getAttribute('action');
    const id = action.split('/')[2];
    assert.match(id, /^[0-9a-f]{64}$/);
    await assertRefused(id, 'the session id from the page sent as the cookie');

    // The old cookie, put back into a browser that never signed in: the sign-in page.
    const other = await fresh();
    await other.context.addCookies([{ name: COOKIE, value: before, url: demo.origin, httpOnly: true, sameSite: 'Lax' }]);
    const res = await other.page.goto('/account');
    const first = res.request().redirectedFrom();
    assert.ok(first, '/account redirected');
    assert.equal((await first.response()).status(), 302);
    await assertSignedOut(other.page);
    assert.notEqual(await cookieValue(other.context), before, 'the browser was told to drop the dead cookie');

    // And over raw HTTP.
    await assertRefused(before, 'pre-sign-in cookie replayed');

    // The replays did not disturb the signed-in browser.
    await page.reload();
    assert.equal(await page.textContent('#who'), 'alice');
  });

  it('clears the cookie at sign-out and kills the session on the server', async () => {
    const { context, page } = await fresh();
    await signIn(page, 'bob', 'bob-demo');
    const signedIn = await cookieValue(context);
    await assertLive(signedIn, 'bob');

    const [logout] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/logout' && r.request().method() === 'POST'),
      page.click('#sign-out'),
    ]);
    assert.equal(logout.status(), 302);
    const setCookie = (await logout.headerValue('set-cookie')) ?? '';
    assert.match(setCookie, new RegExp(`^${COOKIE}=; Max-Age=0`), 'the sign-out response clears the cookie');
    assert.equal(await logout.headerValue('cache-control'), 'no-store');
    await page.waitForURL(/\/login$/);
    await assertSignedOut(page);
    assert.notEqual(await cookieValue(context), signedIn, 'the browser no longer holds the signed-in cookie');

    // Killed on the server, not only forgotten by the browser.
    await assertRefused(signedIn, 'signed-in cookie replayed after sign-out');
    const other = await fresh();
    await other.context.addCookies([{ name: COOKIE, value: signedIn, url: demo.origin, httpOnly: true, sameSite: 'Lax' }]);
    await other.page.goto('/account');
    await assertSignedOut(other.page);
  });

  it(`signs the user out after ${IDLE_S} s without activity`, async () => {
    const { context, page } = await fresh(idleDemo);
    await signIn(page, 'alice', 'alice-demo');
    const signedInAt = Date.now(); // the server saw the account page at or before this instant
    const signedIn = await cookieValue(context, idleDemo);
    assert.match(await page.textContent('#idle-left'), new RegExp(`^[${IDLE_S - 1}${IDLE_S}] s$`));

    // Activity inside the window keeps the session: a reload at a third of the timeout, timed
    // from the last request rather than after the steps above, so a slow step cannot eat the margin.
    await sleep(signedInAt + (IDLE_S * 1000) / 3 - Date.now());
    await page.reload();
    assert.equal(await page.textContent('#who'), 'alice', 'activity within the idle timeout keeps the session');
    const lastActivity = Date.now(); // the server saw the reload at or before this instant

    // Past the idle timeout (with margin for a slow machine): the sign-in page.
    await sleep(lastActivity + IDLE_S * 1000 + 1500 - Date.now());
    await page.reload();
    await page.waitForURL(/\/login$/);
    await assertSignedOut(page);
    assert.notEqual(await cookieValue(context, idleDemo), signedIn);
    await assertRefused(signedIn, 'cookie replayed after the idle timeout', idleDemo);
  });

  it('puts a working sign-out button on every protected page', async () => {
    // Every page reachable by links from the account page, for a user and for the administrator.
    async function crawl(page) {
      const seen = new Set();
      const queue = ['/account'];
      while (queue.length) {
        const path = queue.shift();
        if (seen.has(path)) continue;
        seen.add(path);
        const res = await page.goto(path);
        assert.equal(res.status(), 200, `${path}: ${res.status()}`);
        const button = page.locator('form[method="post"][action="/logout"] #sign-out');
        assert.equal(await button.count(), 1, `${path}: a sign-out button in a POST form to /logout`);
        assert.ok(await button.isVisible(), `${path}: the sign-out button is visible`);
        const csrf = await page.locator('form[action="/logout"] input[type="hidden"][name="_csrf"]').inputValue();
        assert.ok(csrf.length > 0, `${path}: the sign-out form carries its CSRF token`);
        for (const href of await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.href))) {
          const url = new URL(href);
          if (url.origin === demo.origin) queue.push(url.pathname);
        }
      }
      return [...seen].sort();
    }

    const alice = await fresh();
    await signIn(alice.page, 'alice', 'alice-demo');
    assert.deepEqual(await crawl(alice.page), ['/account']);
    assert.equal((await alice.page.goto('/admin')).status(), 403, 'alice is not an administrator');

    const admin = await fresh();
    await signIn(admin.page, 'admin', 'admin-demo');
    assert.deepEqual(await crawl(admin.page), ['/account', '/admin']);
    const adminCookie = await cookieValue(admin.context);
    // The button works from the admin page too.
    await admin.page.goto('/admin');
    await admin.page.click('#sign-out');
    await admin.page.waitForURL(/\/login$/);
    await assertSignedOut(admin.page);
    await assertRefused(adminCookie, 'admin cookie replayed after signing out from /admin');
  });

  it('answers 403 to a form POST with a tampered, missing or foreign CSRF field', async () => {
    const { context, page } = await fresh();
    await signIn(page, 'alice', 'alice-demo');
    const signedIn = await cookieValue(context);
    const bob = await fresh();
    await signIn(bob.page, 'bob', 'bob-demo');
    const bobsToken = await bob.page.locator('form[action="/logout"] input[name="_csrf"]').inputValue();

    const field = 'form[action="/logout"] input[name="_csrf"]';
    const cases = {
      // One character in the middle changed: a character at the end could differ only in
      // base64's unused bits and decode to the same bytes.
      tampered: (token) => {
        const i = Math.floor(token.length / 2);
        return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
      },
      empty: () => '',
      "another session's": () => bobsToken,
    };
    for (const [name, change] of Object.entries(cases)) {
      await page.goto('/account');
      const token = await page.locator(field).inputValue();
      await page.locator(field).evaluate((input, value) => { input.value = value; }, change(token));
      const [res] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/logout'),
        page.click('#sign-out'),
      ]);
      assert.equal(res.status(), 403, `${name} CSRF token: ${res.status()}`);
      await page.waitForLoadState();
      assert.match(await page.content(), /CSRF/);
      // The refused request changed nothing: still signed in, same cookie.
      assert.equal(await cookieValue(context), signedIn);
      await assertLive(signedIn, 'alice');
    }

    // The untouched form works (the 403s above were the CSRF check, nothing else).
    await page.goto('/account');
    await page.click('#sign-out');
    await page.waitForURL(/\/login$/);
    await assertRefused(signedIn, 'cookie after a valid sign-out');
  });

  it('renders the signed-in account page (screenshot)', async (t) => {
    const { page } = await fresh();
    await page.setViewportSize({ width: 1024, height: 700 });
    await signIn(page, 'alice', 'alice-demo');
    for (const id of ['#who', '#protected', '#idle-left', '#absolute-left', '#sessions', '#sign-out',
      '#sign-out-others', '#sign-out-everywhere']) {
      assert.ok(await page.locator(id).isVisible(), `${id} is visible`);
    }
    const dir = process.env.TESSERA_SCREENSHOT_DIR || tempDir('tessera-browser-');
    const path = join(dir, 'account.png');
    await page.screenshot({ path, fullPage: true });
    t.diagnostic(`screenshot: ${path}`);
  });
});
