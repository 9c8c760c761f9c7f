'use strict'
// The Express demo's pages: the same pages, element ids and texts as the Flask and C servers,
// so that one browser suite drives the three. Every value is escaped; every form has its
// CSRF field.
const { SITE, SITE_NAMES } = require('./config.js')

const USERS = { alice: 'alice-demo', bob: 'bob-demo', admin: 'admin-demo' }

// "Why you were signed out", by the code EventLog.explain gives (the same codes in the three).
const WHY = {
  expired_idle: 'Your session expired: it was not used for {idle} (the idle timeout).',
  expired_absolute: 'Your session reached its absolute lifetime of {absolute}: a session ends then, however active it is.',
  everywhere: 'Someone signed in as you chose “Sign out everywhere”{on}: every session of the account ended, this one too.',
  device: 'This device was signed out from another device (“Sign out this device”{on}).',
  admin: 'An administrator ended all your sessions{on}, as after a password reset.',
  revoked: 'Your session was ended on the server{on}.',
  logged_out: 'This session was signed out{on}.',
  unknown: 'The server no longer knows this session (was the demo restarted?).',
  malformed: 'The session cookie was not one the server issued.',
  binding_missing: 'This session is bound to a device key, and this request did not prove it (no current short-lived bound cookie): a copied session cookie alone signs nobody in. The device that holds the key stays signed in.'
}

function esc (value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** "4 min 05 s", rounded up as the other two servers round. */
function duration (ms) {
  const s = Math.max(0, Math.ceil(ms / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  if (h) return `${h} h ${String(m).padStart(2, '0')} min`
  if (m) return `${m} min ${String(r).padStart(2, '0')} s`
  return `${r} s`
}

function shortDevice (ua) {
  if (!ua) return 'unknown device'
  let browser = 'a browser'
  for (const [name, marker] of [['Edge', 'Edg/'], ['Chrome', 'Chrome/'], ['Firefox', 'Firefox/'],
    ['Safari', 'Version/'], ['curl', 'curl/'], ['Python', 'Python-urllib/']]) {
    if (ua.includes(marker)) {
      browser = `${name} ${ua.split(marker)[1].split('.')[0].split(' ')[0]}`
      break
    }
  }
  let system = ['Android', 'iPhone', 'Windows', 'Mac OS X', 'Linux'].find((s) => ua.includes(s)) || ''
  if (system === 'Mac OS X') system = 'macOS'
  return system ? `${browser} on ${system}` : browser
}

function csrfField (ctx) {
  return `<input type="hidden" name="_csrf" value="${esc(ctx.csrf())}">`
}

/** The frame every page shares: header with the other two sites, the events panel, the script. */
function layout (ctx, title, body) {
  const { config, me } = ctx
  const peers = Object.entries(config.sites).filter(([site]) => site !== SITE)
    .map(([site, url]) => `<a class="peer" id="to-${site}" href="${esc(url)}/">${esc(SITE_NAMES[site])}</a>`).join('')
  const who = me
    ? ` · Signed in as <strong id="who">${esc(me.name)}</strong> · <a href="/account">account</a>` +
      (me.admin ? ' · <a href="/admin">admin</a>' : '') +
      `<form class="inline" method="post" action="/logout">${csrfField(ctx)}<button id="sign-out">Sign out</button></form>`
    : ''
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${esc(title)} · ${esc(SITE_NAMES[SITE])}</title>
  <link rel="stylesheet" href="/demo/static/demo.css">
</head>
<body>
<header>
  <h1><a id="home" href="${esc(config.sites[SITE])}/">Tessera demo</a> <span id="site" class="lang lang-${SITE}" data-site="${SITE}">${esc(SITE_NAMES[SITE])}</span></h1>
  <nav>${peers}${who}</nav>
</header>
<main>
${body}
</main>
<section id="events" class="box">
  <h3>Events <span class="muted">(audit log of the three servers: ids and users, never tokens)</span></h3>
  <table><tbody id="events-list"></tbody></table>
</section>
<script src="/demo/static/demo.js"></script>
</body>
</html>
`
}

function start (ctx, error) {
  const { config, me } = ctx
  const others = Object.entries(config.sites).filter(([site]) => site !== SITE)
    .map(([site, url]) => `<a class="peer-link" href="${esc(url)}/">${esc(SITE_NAMES[site])}</a>`).join(' and ')
  const signIn = me
    ? `<p>You are signed in as <strong>${esc(me.name)}</strong>. <a href="/account" id="to-account">Your account and sessions</a>.</p>`
    : `<h3>Sign in</h3>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/login">
  ${csrfField(ctx)}
  <label>User <input name="user" id="user" autocomplete="username"></label>
  <label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
  <button id="sign-in">Sign in</button>
</form>
<p class="muted">Demo accounts: ${Object.entries(USERS).map(([u, p]) => `<code>${u}</code> / <code>${p}</code>`).join(', ')} (admin can end anyone's sessions).</p>`
  return layout(ctx, 'Start', `<h2>One session, three languages</h2>
<p>This page is served by <strong>${esc(SITE_NAMES[SITE])}</strong>. Two more servers share its session store:
${others}. Sign in on any of them and the others know you: one cookie, one store, the same rules in Python, Node and C.</p>
${signIn}
<h3>What to try</h3>
<ol id="try">
  <li>Sign in here, then open the other two sites: they already know you.</li>
  <li>On your account page, watch the countdowns tick without a request. With <code>make demo TIMEOUTS=short</code> the token rotates every 20 s: reload after that and the session id changes, and the events panel says <em>rotated</em>.</li>
  <li>Sign in as the same user in a private window (a second device), then press “Sign out this device” on its row from any site: its next click explains what happened.</li>
  <li>Sign in as <code>admin</code> elsewhere and end alice's sessions (after a confirmation): alice's next click, on any site, says an administrator ended them.</li>
  <li>Leave a session alone for the idle timeout: the next click says it expired.</li>
  <li>On your account page, press “Change password” right after signing in: it goes through. Once your sign-in is older than the page allows, it asks for your password again first, and your session gets a new token. “Your sessions” shows which devices are bound to a device key (DBSC).</li>
</ol>
<h3>What differs from Tessera's defaults here</h3>
<ul id="differences">
  ${config.differences.map((d) => `<li>${esc(d)}</li>`).join('\n  ')}
</ul>`)
}

function clock (id, ms, over) {
  if (ms === null) return `<span class="clock" id="${id}">—</span>`
  return `<span class="clock" id="${id}" data-left-ms="${ms}" data-over="${esc(over)}">${duration(ms)}</span>`
}

/** The first characters of a key's RFC 7638 thumbprint: enough to tell two keys apart. */
function shortThumbprint (thumbprint) {
  return thumbprint ? `${thumbprint.slice(0, 10)}…` : ''
}

function account (ctx, { sessions, currentId, clocks, now, security }) {
  const rows = sessions.map((i) => `  <tr class="session" data-id="${esc(i.id)}">
    <td><code>${esc(i.id.slice(0, 12))}…</code>${i.id === currentId ? ' <strong class="this-device">(this device)</strong>' : ''}</td>
    <td title="${esc(i.userAgent)}">${esc(shortDevice(i.userAgent))}</td>
    <td class="binding" data-bound="${i.bound ? 'true' : 'false'}">${i.bound ? `bound · key <code class="thumbprint">${esc(shortThumbprint(i.keyThumbprint))}</code>` : 'not bound'}</td>
    <td class="nowrap">${duration(now - i.lastSeen)} ago</td>
    <td><form class="inline" method="post" action="/sessions/${esc(i.id)}/end">${csrfField(ctx)}<button class="end-device">Sign out this device</button></form></td>
  </tr>`).join('\n')
  return layout(ctx, 'Your account', `<h2>Hello, ${esc(ctx.me.name)}</h2>
<p id="protected">This page is only for signed-in users.</p>
<div class="box" id="clocks">
  <p>Without activity this session ends in
    ${clock('idle-left', clocks.idle, 'now: your next click signs you out')}
    (idle timeout), and in any case in
    ${clock('absolute-left', clocks.absolute, 'now')}
    (absolute timeout).</p>
  <p>Token: session id <code id="session-id">${esc((currentId || '').slice(0, 12))}…</code>, minted ${esc(clocks.rotated || '—')};
    next rotation in ${clock('rotation-left', clocks.rotation, 'due: your next request gets a new token')}.</p>
  <p class="muted">These count down in the page without asking the server: looking is not activity. Each page you open is, and restarts the idle countdown.</p>
</div>
<div class="box" id="security">
  <p>This request's device binding: <strong id="binding" data-binding="${esc(security.binding)}">${esc(security.binding)}</strong>
    <span class="muted">(unbound: no device key; pending: bound seconds ago; fresh: proved by this device's short-lived cookie)</span>.</p>
  <p>You last authenticated <span id="auth-age" data-ago-ms="${security.authAgeMs ?? ''}">${security.authAgeMs === null ? '—' : `${duration(security.authAgeMs)} ago`}</span>
    (level ${security.level}${security.amr.length ? `, ${esc(security.amr.join(', '))}` : ''}).
    <a id="to-change-password" href="/change-password">Change password</a> asks for a sign-in less than ${esc(security.recent)} old.</p>
</div>

<h3>Your sessions</h3>
<table id="sessions">
  <tr><th>Session</th><th>Device</th><th>Device binding</th><th>Last seen</th><th></th></tr>
${rows}
</table>
<div class="actions">
  <form class="inline" method="post" action="/logout-others">${csrfField(ctx)}<button id="sign-out-others">Sign out other devices</button></form>
  <a id="sign-out-everywhere" href="/logout-everywhere">Sign out everywhere…</a>
</div>`)
}

function changePassword (ctx, changed, recent) {
  const body = changed
    ? `<p id="changed">Password changed. (The demo has no real passwords: it only records that you did it.)</p>
<p><a href="/account">Back to your account</a></p>`
    : `<p>A sensitive change: it needs a sign-in less than ${esc(recent)} old (<code>require_recent</code>), else you are asked for your password again first.</p>
<form method="post" action="/change-password">
  ${csrfField(ctx)}
  <label>New password <input name="new_password" id="new-password" type="password" autocomplete="new-password"></label>
  <button id="change">Change password</button>
</form>`
  return layout(ctx, 'Change password', `<h2>Change password</h2>
${body}`)
}

function reauth (ctx, next, error) {
  return layout(ctx, 'Confirm it is you', `<h2>Confirm it is you</h2>
<p id="reauth-why">Your last sign-in is too old for this page. Enter your password again to continue: you get a new session token, and the old one stops working at once.</p>
${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/reauth">
  ${csrfField(ctx)}
  <input type="hidden" name="next" value="${esc(next)}">
  <label>Password <input name="password" id="reauth-password" type="password" autocomplete="current-password"></label>
  <button id="reauth">Continue</button>
</form>`)
}

function admin (ctx, counts) {
  const rows = Object.entries(counts).map(([name, count]) => `  <tr data-user="${esc(name)}">
    <td>${esc(name)}</td><td class="count">${count}</td>
    <td><a class="end-user" id="end-${esc(name)}" href="/admin/users/${esc(name)}/end">End all sessions…</a></td>
  </tr>`).join('\n')
  return layout(ctx, 'Administration', `<h2>Administration</h2>
<p>End every session of a user, e.g. when an account is disabled or its password was reset.</p>
<table id="users">
  <tr><th>User</th><th>Live sessions</th><th></th></tr>
${rows}
</table>`)
}

function confirm (ctx, question, action, button) {
  return layout(ctx, 'Are you sure?', `<h2>Are you sure?</h2>
<p id="confirm-what">${esc(question)}</p>
<form method="post" action="${esc(action)}">
  ${csrfField(ctx)}
  <button id="confirm">${esc(button)}</button>
  <a id="cancel" href="/account">Cancel</a>
</form>`)
}

function signedOut (ctx, why, site, timeouts) {
  const code = Object.hasOwn(WHY, why) ? why : 'unknown'
  const text = WHY[code]
    .replace('{idle}', duration(timeouts.idle))
    .replace('{absolute}', duration(timeouts.absolute))
    .replace('{on}', site ? ` on the ${site} site` : '')
  return layout(ctx, 'Signed out', `<h2>You were signed out</h2>
<p id="why" data-why="${esc(code)}">${esc(text)}</p>
<p><a href="/">Sign in again</a></p>`)
}

function error (ctx, code, name, description) {
  return layout(ctx, String(code), `<h2 id="error-code">${code} ${esc(name)}</h2>
<p class="error">${esc(description)}</p>
<p><a href="/">Back to the start page</a></p>`)
}

module.exports = { USERS, duration, start, account, changePassword, reauth, admin, confirm, signedOut, error }
