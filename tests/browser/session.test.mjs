// The session cookie in a real browser, on each of the three demo servers (Flask, Express, C):
// sign-in replaces a planted cookie, sign-out kills the session on the server, every protected
// page has a working sign-out, and forged CSRF fields are refused. The demo's test clock never
// moves here, so no session can time out between two steps however slow the machine is.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  COOKIE,
  HOST,
  SITES,
  browserMissing,
  jarCookie,
  launchBrowser,
  request,
  startDemo,
} from './harness.mjs';

const missing = browserMissing();

describe('the session cookie on each demo server', { skip: missing ? 'no Chromium (see demo.test.mjs)' : false }, () => {
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

  async function fresh(site) {
    const context = await browser.newContext({ baseURL: demo.sites[site] });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  async function signIn(page, user, { open = true } = {}) {
    if (open) await page.goto('/');
    await page.fill('#user', user);
    await page.fill('#password', `${user}-demo`);
    await page.click('#sign-in');
    await page.waitForURL(/\/account$/);
    assert.equal(await page.textContent('#who'), user);
  }

  function plant(context, value) {
    return context.addCookies([{
      name: COOKIE, value, domain: HOST, path: '/', secure: true, httpOnly: true, sameSite: 'Lax',
    }]);
  }

  /** Raw HTTP with only this cookie: the session is alive and belongs to `user`. */
  async function assertLive(site, cookie, user) {
    const res = await request(demo.sites[site], 'GET', '/account', { cookie });
    assert.equal(res.status, 200, `${site}: the cookie is accepted before the check that follows`);
    assert.match(res.body, new RegExp(`Hello, ${user}`));
  }

  /** Raw HTTP with only this cookie: refused, sent to the explanation, told to forget it. */
  async function assertRefused(site, cookie, what) {
    const res = await request(demo.sites[site], 'GET', '/account', { cookie });
    assert.equal(res.status, 302, `${site}, ${what}: /account must redirect, got ${res.status}`);
    assert.equal(new URL(res.headers.location, demo.sites[site]).pathname, '/signed-out', what);
    assert.ok(
      res.setCookies.some((c) => c.startsWith(`${COOKIE}=;`) && /Max-Age=0/i.test(c)),
      `${site}, ${what}: the response clears the cookie (${res.setCookies})`,
    );
    assert.doesNotMatch(res.body, /Hello,/);
  }

  for (const site of SITES) {
    describe(site, () => {
      it('replaces a planted cookie at sign-in and refuses it afterwards (no fixation)', async () => {
        const { context, page } = await fresh(site);
        await page.goto('/');
        assert.equal(await jarCookie(context), undefined, 'the sign-in form costs no server-side session');
        const visitor = await jarCookie(context, `${COOKIE}-csrf`);
        assert.ok(visitor?.secure && visitor.httpOnly, 'the form is bound to a Secure, HttpOnly visitor cookie');
        const planted = 'A'.repeat(43);
        // Planted after the form was served: the sign-in itself must not adopt it.
        await plant(context, planted);
        await signIn(page, 'alice', { open: false });
        const signedIn = (await jarCookie(context)).value;
        assert.notEqual(signedIn, planted, 'sign-in issues a new token, never adopts the planted one');
        await assertLive(site, signedIn, 'alice');
        await assertRefused(site, planted, 'the planted cookie');
        // The public id the page shows is no cookie either.
        const id = await page.locator('tr.session:has(.this-device)').getAttribute('data-id');
        await assertRefused(site, id.slice(0, 43), 'part of the session id sent as the cookie');
        // A script cannot overwrite the HttpOnly cookie.
        await page.evaluate((n) => { document.cookie = `${n}=forged; path=/; secure`; }, COOKIE);
        assert.equal((await jarCookie(context)).value, signedIn);
      });

      it('clears the cookie at sign-out and kills the session on the server', async () => {
        const { context, page } = await fresh(site);
        await signIn(page, 'bob');
        const signedIn = (await jarCookie(context)).value;
        await assertLive(site, signedIn, 'bob');
        const [logout] = await Promise.all([
          page.waitForResponse((r) => new URL(r.url()).pathname === '/logout' && r.request().method() === 'POST'),
          page.click('#sign-out'),
        ]);
        assert.equal(logout.status(), 302);
        assert.match((await logout.headerValue('set-cookie')) ?? '', new RegExp(`^${COOKIE}=; Max-Age=0`));
        assert.equal(await logout.headerValue('cache-control'), 'no-store');
        await page.waitForURL((u) => u.pathname === '/');
        assert.equal(await page.locator('#who').count(), 0);
        assert.equal(await jarCookie(context), undefined);
        await assertRefused(site, signedIn, 'the signed-out cookie replayed');
      });

      it('puts a working sign-out button on every protected page', async () => {
        const { page } = await fresh(site);
        await signIn(page, 'admin');
        const origin = demo.sites[site];
        const seen = new Set();
        const queue = ['/account'];
        while (queue.length) {
          const path = queue.shift();
          if (seen.has(path)) continue;
          seen.add(path);
          const res = await page.goto(path);
          assert.equal(res.status(), 200, `${path}: ${res.status()}`);
          assert.equal(res.headers()['cache-control'], 'no-store', `${path}: never cached`);
          const button = page.locator('form[method="post"][action="/logout"] #sign-out');
          assert.ok(await button.isVisible(), `${path}: a visible sign-out button in a POST form`);
          for (const href of await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.href))) {
            const url = new URL(href);
            if (url.origin === origin && !url.pathname.startsWith('/admin/users/')) queue.push(url.pathname);
          }
        }
        assert.deepEqual([...seen].sort(), ['/', '/account', '/admin', '/change-password', '/logout-everywhere']);
        await page.goto('/admin');
        await page.click('#sign-out');
        await page.waitForURL((u) => u.pathname === '/');
        assert.equal(await page.locator('#who').count(), 0);
      });

      it('answers 403 to a tampered, empty or foreign CSRF field and changes nothing', async () => {
        const { context, page } = await fresh(site);
        await signIn(page, 'alice');
        const signedIn = (await jarCookie(context)).value;
        const bob = await fresh(site);
        await signIn(bob.page, 'bob');
        const field = 'form[action="/logout"] input[name="_csrf"]';
        const bobs = await bob.page.locator(field).inputValue();
        const cases = {
          // A character in the middle: one at the end may differ only in unused bits.
          tampered: (t) => t.slice(0, 40) + (t[40] === 'A' ? 'B' : 'A') + t.slice(41),
          empty: () => '',
          "another session's": () => bobs,
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
          assert.match(await res.text(), /CSRF/);
          assert.equal((await jarCookie(context)).value, signedIn, 'still the same cookie');
          await assertLive(site, signedIn, 'alice');
        }
        await page.goto('/account');
        await page.click('#sign-out');
        await page.waitForURL((u) => u.pathname === '/');
        await assertRefused(site, signedIn, 'the cookie after a valid sign-out');
      });
    });
  }
});
