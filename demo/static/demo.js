// The demo pages' only script, served by all three servers from /demo/static/ (outside the
// session). It requests nothing that counts as activity:
// - countdowns tick from the "ms left" values the page was rendered with, on the browser's
//   own clock, so watching a page never keeps a session alive;
// - the events panel polls /demo/events without cookies (credentials: 'omit'), an endpoint
//   every server answers before its session middleware.
(function () {
  'use strict';
  var rendered = performance.now();

  function duration(ms) {
    // Rounded up, as the servers round: a session with 3.2 s left still shows "4 s".
    var s = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return h + ' h ' + String(m).padStart(2, '0') + ' min';
    if (m) return m + ' min ' + String(r).padStart(2, '0') + ' s';
    return r + ' s';
  }

  function tick() {
    var elapsed = performance.now() - rendered;
    document.querySelectorAll('[data-left-ms]').forEach(function (el) {
      var left = Number(el.dataset.leftMs) - elapsed;
      var over = left <= 0;
      el.textContent = over ? el.dataset.over : duration(left);
      el.classList.toggle('over', over);
    });
  }
  tick();
  setInterval(tick, 250);

  var list = document.getElementById('events-list');
  if (!list) return;
  var DETAIL = {
    admin: 'ended by an administrator',
    everywhere: 'signed out everywhere',
    device: 'signed out from another device',
    limit: 'over the per-user limit'
  };

  function cell(row, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function render(answer) {
    var rows = answer.events.slice().reverse().map(function (e) {
      var tr = document.createElement('tr');
      tr.className = 'event';
      tr.dataset.kind = e.kind;
      cell(tr, duration(answer.now - e.at) + ' ago', 'nowrap');
      cell(tr, e.site);
      cell(tr, e.kind, 'kind');
      cell(tr, e.user || '—');
      cell(tr, e.id ? e.id.slice(0, 12) + '…' : 'all', 'id');
      cell(tr, [e.reason, DETAIL[e.cause]].filter(Boolean).join(', '));
      return tr;
    });
    list.replaceChildren.apply(list, rows);
    document.getElementById('events').dataset.loaded = String(answer.events.length);
  }

  function refresh() {
    fetch('/demo/events', { credentials: 'omit', cache: 'no-store' })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (answer) { if (answer) render(answer); })
      .catch(function () { /* the server is restarting: the next poll retries */ });
  }
  refresh();
  setInterval(refresh, 2000);
})();
