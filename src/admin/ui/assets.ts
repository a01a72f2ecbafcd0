/**
 * The dashboard served at `/ui` on the admin port: one HTML page, one script, one stylesheet,
 * shipped inside the package as strings (no build step, no outside assets, no CDN). The script
 * polls `/stats/summary?format=json` and `/clusters?format=json` and draws tables; rates are the
 * difference between two polls. It never writes to the console: failures show on the page.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>waypoint dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header>
  <h1>waypoint <span id="waypoint">…</span></h1>
  <div class="badges">
    <span id="ready" class="badge">readiness …</span>
    <span id="version" class="badge">config …</span>
    <span id="cert" class="badge">certificate …</span>
  </div>
  <p id="status" class="status">loading…</p>
</header>
<main>
  <section id="rejected-section" hidden>
    <h2>Last rejected configuration</h2>
    <p id="rejected-at"></p>
    <ul id="rejected-errors"></ul>
  </section>
  <section>
    <h2>Services</h2>
    <table id="services"><thead><tr><th>service</th><th>requests</th><th>req/s</th><th>errors</th><th>error %</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Routes</h2>
    <table id="routes"><thead><tr><th>route</th><th>requests</th><th>req/s</th><th>errors</th><th>error %</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Backends</h2>
    <table id="backends"><thead><tr><th>cluster</th><th>requests</th><th>req/s</th><th>errors</th><th>error %</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Policy decisions</h2>
    <table id="policies"><thead><tr><th>decision</th><th>policy</th><th>count</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Endpoints</h2>
    <table id="endpoints"><thead><tr><th>cluster</th><th>endpoint</th><th>health</th><th>identity</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Configuration</h2>
    <table id="config"><tbody></tbody></table>
  </section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6577; --bg: #f6f7f9; --card: #fff; --line: #dde1e8; --ok: #1f7a3a; --bad: #b42318; --warn: #a15c00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ec; --muted: #9aa3b2; --bg: #14171c; --card: #1c2027; --line: #2c323c; --ok: #4cc27a; --bad: #ff6b5e; --warn: #f0b44c; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 16px 24px; border-bottom: 1px solid var(--line); background: var(--card); }
h1 { margin: 0 0 8px; font-size: 20px; }
h1 span { color: var(--muted); font-weight: 500; }
h2 { margin: 0 0 8px; font-size: 15px; }
.badges { display: flex; gap: 8px; flex-wrap: wrap; }
.badge { padding: 2px 10px; border-radius: 12px; border: 1px solid var(--line); }
.badge.ok { color: var(--ok); border-color: var(--ok); }
.badge.bad { color: var(--bad); border-color: var(--bad); }
.badge.warn { color: var(--warn); border-color: var(--warn); }
.status { margin: 8px 0 0; color: var(--muted); font-size: 12px; }
.status.bad { color: var(--bad); }
main { padding: 16px 24px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.name { white-space: normal; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
td.num { text-align: right; }
td.bad { color: var(--bad); }
td.ok { color: var(--ok); }
td.empty { color: var(--muted); font-style: italic; }
#rejected-section { grid-column: 1 / -1; border-color: var(--bad); }
#rejected-errors { margin: 0; padding-left: 18px; font-family: ui-monospace, monospace; font-size: 12px; }
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  var POLL_MS = 2000;
  var previous = null;

  function el(id) { return document.getElementById(id); }
  function text(node, value) { node.textContent = value; return node; }
  function cell(row, value, cls) {
    var td = document.createElement('td');
    td.textContent = value === undefined || value === null ? '-' : String(value);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  /** A cell for a long name: breakable after each "|" or "/" (wbr), its text unchanged. */
  function nameCell(row, value) {
    var td = document.createElement('td');
    td.className = 'name';
    String(value).split(/(?<=[|/])/).forEach(function (part, i) {
      if (i > 0) td.appendChild(document.createElement('wbr'));
      td.appendChild(document.createTextNode(part));
    });
    row.appendChild(td);
    return td;
  }
  function fill(tableId, rows, columns, emptyText) {
    var body = el(tableId).querySelector('tbody');
    body.replaceChildren();
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = cell(tr, emptyText, 'empty');
      td.colSpan = columns;
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function fmt(n, digits) { return n === undefined || n === null ? '-' : Number(n).toFixed(digits); }
  function since(iso) {
    if (!iso) return '-';
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }
  function until(iso) {
    var s = Math.round((Date.parse(iso) - Date.now()) / 1000);
    if (s < 0) return 'expired ' + Math.round(-s / 60) + ' min ago';
    if (s < 7200) return 'expires in ' + Math.round(s / 60) + ' min';
    if (s < 172800) return 'expires in ' + Math.round(s / 3600) + ' h';
    return 'expires in ' + Math.round(s / 86400) + ' d';
  }

  function trafficRows(list, dimension, now) {
    var before = {};
    if (previous) previous.traffic[dimension].forEach(function (r) { before[r.name] = r; });
    var seconds = previous ? (now.traffic.at - previous.traffic.at) / 1000 : 0;
    return list.map(function (r) {
      var tr = document.createElement('tr');
      tr.dataset.name = r.name;
      nameCell(tr, r.name);
      cell(tr, r.requests, 'num requests');
      var b = before[r.name];
      var rate = seconds > 0 ? (r.requests - (b ? b.requests : 0)) / seconds : undefined;
      cell(tr, fmt(rate, 1), 'num rate');
      cell(tr, r.errors, 'num' + (r.errors > 0 ? ' bad' : ''));
      cell(tr, fmt(r.requests > 0 ? (100 * r.errors) / r.requests : undefined, 1), 'num' + (r.errors > 0 ? ' bad' : ''));
      cell(tr, r.p50Ms, 'num');
      cell(tr, r.p90Ms, 'num');
      cell(tr, r.p99Ms, 'num');
      return tr;
    });
  }

  function render(summary, clusters) {
    text(el('waypoint'), summary.waypoint.namespace + '/' + summary.waypoint.name);
    var ready = el('ready');
    text(ready, summary.readiness.ready ? 'ready' : 'not ready: ' + summary.readiness.reasons.join('; '));
    ready.className = 'badge ' + (summary.readiness.ready ? 'ok' : 'bad');
    var c = summary.config;
    var version = el('version');
    text(version, 'config v' + c.version + (c.servingOlder ? ' (last change rejected)' : '') + ', loaded ' + since(c.loadedAt));
    version.className = 'badge ' + (c.servingOlder ? 'warn' : 'ok');
    var cert = el('cert');
    var left = (Date.parse(summary.certificate.notAfter) - Date.now()) / 1000;
    text(cert, 'certificate ' + (summary.certificate.identity || '(no identity)') + ' ' + until(summary.certificate.notAfter));
    cert.className = 'badge ' + (left <= 0 ? 'bad' : left < 3600 ? 'warn' : 'ok');

    var rejected = c.lastRejected;
    el('rejected-section').hidden = !rejected;
    if (rejected) {
      text(el('rejected-at'), 'at ' + rejected.at + ' (' + since(rejected.at) + ')' + (c.servingOlder ? '; still serving version ' + c.version : '; a later version was accepted'));
      var list = el('rejected-errors');
      list.replaceChildren();
      rejected.errors.forEach(function (e) { var li = document.createElement('li'); li.textContent = e; list.appendChild(li); });
    }

    fill('services', trafficRows(summary.traffic.services, 'services', summary), 8, 'no traffic yet');
    fill('routes', trafficRows(summary.traffic.routes, 'routes', summary), 8, 'no routed requests yet');
    fill('backends', trafficRows(summary.traffic.backends, 'backends', summary), 8, 'no upstream requests yet');
    fill('policies', summary.traffic.policies.map(function (p) {
      var tr = document.createElement('tr');
      cell(tr, p.decision, p.decision === 'deny' ? 'bad' : 'ok');
      cell(tr, p.policy);
      cell(tr, p.count, 'num');
      return tr;
    }), 3, 'no decisions yet');
    var endpoints = [];
    clusters.forEach(function (cl) {
      cl.endpoints.forEach(function (e) {
        var tr = document.createElement('tr');
        nameCell(tr, cl.name);
        cell(tr, e.address);
        cell(tr, e.health, e.health === 'HEALTHY' ? 'ok' : 'bad');
        nameCell(tr, e.identity || '-');
        endpoints.push(tr);
      });
    });
    fill('endpoints', endpoints, 4, 'no endpoints');
    var rows = [
      ['version', c.version],
      ['loaded at', c.loadedAt],
      ['accepted loads', c.accepted],
      ['rejected loads', c.rejected],
      ['last rejected', rejected ? rejected.at : 'never'],
      ['certificate', summary.certificate.identity],
      ['not after', summary.certificate.notAfter],
      ['uptime', Math.round(summary.uptimeSeconds) + ' s']
    ].map(function (kv) { var tr = document.createElement('tr'); cell(tr, kv[0]); cell(tr, kv[1]); return tr; });
    fill('config', rows, 2, '');
    previous = summary;
  }

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (res) {
      if (!res.ok) throw new Error(path + ' answered ' + res.status);
      return res.json();
    });
  }

  function poll() {
    Promise.all([getJson('/stats/summary?format=json'), getJson('/clusters?format=json')]).then(function (answers) {
      render(answers[0], answers[1]);
      var status = el('status');
      status.className = 'status';
      text(status, 'updated ' + new Date().toLocaleTimeString() + ' · every ' + POLL_MS / 1000 + ' s');
      document.body.dataset.polls = String(Number(document.body.dataset.polls || '0') + 1);
    }, function (err) {
      var status = el('status');
      status.className = 'status bad';
      text(status, 'cannot reach the waypoint: ' + err.message);
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  poll();
})();
`;
