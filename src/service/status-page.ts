/**
 * The status page of `aerobak serve`, served at `/` (docs/service.md, "Status page"): one
 * HTML document with its script and styles inline, so there is no build step and nothing
 * else to serve. The page itself needs no token and shows nothing until it is given one;
 * the token is kept in the browser's session storage (gone when the tab closes) and sent as
 * the bearer token of the page's API calls, which are the same as any client's.
 *
 * What it shows, refreshed every 5 s: each routine with its schedules' next runs and its
 * last success, failure and error; each repository's backups on a timeline (fulls as
 * squares, incrementals as dots, each chain on a line of its own), the stored size of each
 * backup over time as a small chart; and the jobs in progress with their progress.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>aerobak</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; } th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #e3e6ea; }
  th { font-weight: 600; color: #4a5262; } .ok { color: #18794e; } .bad { color: #c4321b; } .muted { color: #7a8292; }
  .card { background: #fff; border: 1px solid #e3e6ea; border-radius: 6px; padding: .8rem 1rem; margin-bottom: 1rem; }
  .bar { background: #e3e6ea; height: .6rem; border-radius: .3rem; overflow: hidden; width: 12rem; display: inline-block; vertical-align: middle; }
  .bar > span { display: block; height: 100%; background: #2f6fdb; }
  #login input { width: 22rem; padding: .4rem; } #login button { padding: .4rem .8rem; }
  svg text { font-size: 10px; fill: #4a5262; }
</style>
</head>
<body>
<h1>aerobak <span class="muted" id="updated"></span></h1>
<form id="login" hidden>
  <p>This page shows the service's routines, backups and jobs. Give the API token (<code>http.token</code> of the service's configuration); it is kept in this tab's session storage only.</p>
  <input id="token" type="password" autocomplete="off" placeholder="API token"> <button type="submit">Show</button>
  <p class="bad" id="login-error"></p>
</form>
<main id="status" hidden>
  <h2>Routines</h2>
  <table id="routines"><thead><tr><th>routine</th><th>namespace</th><th>repository</th><th>next full</th><th>next incremental</th><th>last success</th><th>last failure</th></tr></thead><tbody></tbody></table>
  <h2>Jobs in progress</h2>
  <div id="jobs"><p class="muted">none</p></div>
  <h2>Repositories</h2>
  <div id="repositories"></div>
  <p><button id="logout" type="button">Forget the token</button></p>
</main>
<script>
"use strict";
const KEY = 'aerobak-token';
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, 'Z') : '-');
const size = (n) => (n >= 2 ** 30 ? (n / 2 ** 30).toFixed(1) + ' GiB' : n >= 2 ** 20 ? (n / 2 ** 20).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B');
let timer;

async function api(path) {
  const res = await fetch(path, { headers: { authorization: 'Bearer ' + sessionStorage.getItem(KEY) } });
  if (res.status === 401) { const e = new Error('the token was refused'); e.unauthorized = true; throw e; }
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}

function showLogin(message) {
  clearTimeout(timer);
  $('status').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
}

function routinesTable(routines) {
  $('routines').tBodies[0].innerHTML = routines.map((r) =>
    '<tr data-routine="' + esc(r.name) + '"><td>' + esc(r.name) + '</td><td>' + esc(r.namespace) + '</td><td>' + esc(r.repository) + '</td>' +
    '<td>' + when(r.schedules.full && r.schedules.full.next) + '</td><td>' + when(r.schedules.incremental && r.schedules.incremental.next) + '</td>' +
    '<td class="ok last-success">' + when(r.lastSuccessAt) + '</td>' +
    '<td class="bad" title="' + esc(r.lastError && r.lastError.message) + '">' + when(r.lastFailureAt) + '</td></tr>').join('');
}

function jobsList(jobs) {
  const running = jobs.filter((j) => j.status === 'running' || j.status === 'queued');
  $('jobs').innerHTML = running.length === 0 ? '<p class="muted">none</p>' : running.map((j) => {
    const p = j.progress || {};
    const pct = typeof p.percent === 'number' ? p.percent : 0;
    return '<div class="card job" data-job="' + esc(j.id) + '">' + esc(j.kind) + ' ' + esc(j.routine || '') + ' <span class="muted">' + esc(j.status) + '</span> ' +
      '<span class="bar"><span style="width:' + pct.toFixed(1) + '%"></span></span> ' + (p.records !== undefined ? esc(p.records) + ' records' : '') + '</div>';
  }).join('');
}

/** The backups of a repository on a timeline, one line per chain, and their sizes as a small chart. */
function timeline(repo, listing) {
  const backups = listing.backups.filter((b) => b.status === 'complete');
  if (backups.length === 0) return '<p class="muted">no complete backup yet</p>';
  const times = backups.map((b) => Date.parse(b.finishedAt));
  const t0 = Math.min(...times), t1 = Math.max(...times), span = Math.max(1, t1 - t0);
  const W = 720, left = 10, x = (t) => left + ((t - t0) / span) * (W - 2 * left);
  const chains = listing.chains.length > 0 ? listing.chains : backups.map((b) => ({ full: b.prefix, backups: [b.prefix] }));
  const byPrefix = new Map(backups.map((b) => [b.prefix, b]));
  const rowH = 18, H = 20 + chains.length * rowH;
  let svg = '<svg class="timeline" width="' + W + '" height="' + H + '" role="img" aria-label="backups of ' + esc(repo) + '">';
  chains.forEach((c, i) => {
    const y = 14 + i * rowH;
    const members = c.backups.map((p) => byPrefix.get(p)).filter(Boolean);
    if (members.length > 1) svg += '<line x1="' + x(Date.parse(members[0].finishedAt)) + '" y1="' + y + '" x2="' + x(Date.parse(members[members.length - 1].finishedAt)) + '" y2="' + y + '" stroke="#9fb3d9"/>';
    for (const b of members) {
      const cx = x(Date.parse(b.finishedAt));
      const title = '<title>' + esc(b.prefix) + ' ' + esc(b.kind) + ', ' + esc(b.records) + ' records, ' + size(b.bytes) + '</title>';
      svg += b.kind === 'full'
        ? '<rect class="backup full" data-prefix="' + esc(b.prefix) + '" x="' + (cx - 5) + '" y="' + (y - 5) + '" width="10" height="10" fill="#2f6fdb">' + title + '</rect>'
        : '<circle class="backup incremental" data-prefix="' + esc(b.prefix) + '" cx="' + cx + '" cy="' + y + '" r="4" fill="#7fa6ea">' + title + '</circle>';
    }
  });
  svg += '</svg>';
  // Sizes over time.
  const maxBytes = Math.max(...backups.map((b) => b.bytes), 1), CH = 60;
  let chart = '<svg class="sizes" width="' + W + '" height="' + (CH + 14) + '" role="img" aria-label="sizes of ' + esc(repo) + '"><polyline fill="none" stroke="#18794e" points="' +
    backups.slice().sort((a, b) => Date.parse(a.finishedAt) - Date.parse(b.finishedAt)).map((b) => x(Date.parse(b.finishedAt)) + ',' + (CH - (b.bytes / maxBytes) * (CH - 4) + 2)).join(' ') + '"/>' +
    '<text x="' + left + '" y="' + (CH + 12) + '">' + when(new Date(t0).toISOString()) + '</text><text x="' + (W - 150) + '" y="' + (CH + 12) + '">' + when(new Date(t1).toISOString()) + '</text>' +
    '<text x="' + (W - 80) + '" y="10">max ' + size(maxBytes) + '</text></svg>';
  return '<div class="muted">' + backups.length + ' complete backup(s), ' + chains.length + ' chain(s), ' + size(backups.reduce((n, b) => n + b.bytes, 0)) + '</div>' + svg + chart;
}

async function refresh() {
  try {
    const [routines, repositories, jobs] = await Promise.all([api('/v1/routines'), api('/v1/repositories'), api('/v1/jobs')]);
    routinesTable(routines.routines);
    jobsList(jobs.jobs || []);
    const parts = [];
    for (const r of repositories.repositories) {
      const listing = await api('/v1/repositories/' + encodeURIComponent(r.name) + '/backups');
      parts.push('<div class="card repository" data-repository="' + esc(r.name) + '"><b>' + esc(r.name) + '</b> <span class="muted">' + esc(r.location) + '</span>' + timeline(r.name, listing) + '</div>');
    }
    $('repositories').innerHTML = parts.join('');
    $('login').hidden = true;
    $('status').hidden = false;
    $('updated').textContent = 'updated ' + when(new Date().toISOString());
    timer = setTimeout(refresh, 5000);
  } catch (e) {
    if (e.unauthorized) { sessionStorage.removeItem(KEY); showLogin(e.message); return; }
    $('updated').textContent = 'refresh failed: ' + e.message;
    timer = setTimeout(refresh, 5000);
  }
}

$('login').addEventListener('submit', (ev) => { ev.preventDefault(); sessionStorage.setItem(KEY, $('token').value); $('token').value = ''; refresh(); });
$('logout').addEventListener('click', () => { sessionStorage.removeItem(KEY); showLogin(''); });
if (sessionStorage.getItem(KEY)) refresh(); else showLogin('');
</script>
</body>
</html>
`;
