'use strict';
// The Explorer page: dashboard, a live packet table fed by Server-Sent Events with an inspector, peers and
// routes, balances over time, settlements and channels. Plain browser JavaScript, no build step; the
// session cookie authenticates every request.
const MaxRows = 500;
const rows = new Map();
const tbody = document.querySelector('#packets tbody');
const text = (v) => v === undefined || v === null ? '' : String(v);
const time = (t) => t ? new Date(t).toLocaleTimeString() : '';
let current = 'dashboard';

function packetRow(e) {
  if (e.type !== 'fulfill' && e.type !== 'reject') return;
  if (rows.has(e.seq)) return;
  rows.set(e.seq, e);
  const tr = document.createElement('tr');
  tr.className = e.type;
  tr.dataset.seq = e.seq;
  for (const [v, cls] of [[e.seq], [time(e.time)], [e.type, 'type'], [e.amount], [e.destination], [e.peerIn], [e.peerOut], [e.latencyMs], [e.code]]) {
    const td = document.createElement('td');
    td.textContent = text(v);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  tr.addEventListener('click', () => inspect(e.seq));
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > MaxRows) { rows.delete(Number(tbody.lastChild.dataset.seq)); tbody.removeChild(tbody.lastChild); }
}

function inspect(seq) {
  const e = rows.get(seq);
  document.querySelectorAll('#packets tr.selected').forEach((r) => r.classList.remove('selected'));
  document.querySelector(`#packets tr[data-seq="${seq}"]`)?.classList.add('selected');
  const dl = document.getElementById('fields');
  dl.replaceChildren();
  document.querySelector('#inspector .hint').hidden = true;
  for (const [k, v] of Object.entries(e)) {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = text(v); dd.dataset.field = k;
    dl.append(dt, dd);
  }
}

async function getJson(url) {
  const r = await fetch(url, { credentials: 'same-origin' });
  if (r.status === 401) { location.href = '/explorer'; throw new Error('signed out'); }
  return r.json();
}

// Fills a table's body; a cell is a value, or a DOM node (bars, sparklines), or [value, class].
function fill(tableId, items, cells, id = (it) => it.peerId ?? it.id) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  for (const it of items) {
    const tr = document.createElement('tr');
    if (id(it) !== undefined) tr.dataset.id = id(it);
    for (const v of cells(it)) {
      const td = document.createElement('td');
      if (v instanceof Node) td.appendChild(v);
      else if (Array.isArray(v)) { td.textContent = text(v[0]); td.className = v[1]; }
      else td.textContent = text(v);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function bar(fraction) {
  const outer = document.createElement('span');
  outer.className = fraction >= 0.8 ? 'bar high' : 'bar';
  const inner = document.createElement('span');
  inner.style.width = `${Math.min(100, Math.round(fraction * 100))}%`;
  outer.appendChild(inner);
  const wrap = document.createElement('span');
  wrap.append(outer, `${(fraction * 100).toFixed(1)} %`);
  return wrap;
}

function sparkline(samples) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 100 20');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.dataset.samples = samples.length;
  if (samples.length > 0) {
    const values = samples.map((s) => Number(s.balance));
    const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', values.map((v, i) => `${samples.length === 1 ? 50 : (i * 100) / (samples.length - 1)},${18 - ((v - lo) * 16) / span}`).join(' '));
    svg.appendChild(line);
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${samples.length} samples, ${time(samples[0].time)} – ${time(samples[samples.length - 1].time)}, min ${lo}, max ${hi}`;
    svg.appendChild(title);
  }
  return svg;
}

const settlementCells = (s) => [time(s.createdAt), s.peerId, s.method, s.amount, [s.state, `type settlement_${s.state === 'confirmed' ? 'paid' : s.state}`], s.attempts, s.reference ?? s.lastError];

const loaders = {
  dashboard: async () => {
    const d = await getJson('/api/dashboard');
    const p = d.packets;
    document.getElementById('fig-rate').textContent = p.packetsPerSecond;
    document.getElementById('fig-success').textContent = p.successRate == null ? '–' : `${(p.successRate * 100).toFixed(2)} %`;
    document.getElementById('fig-p99').textContent = p.p99LatencyMs == null ? '–' : p.p99LatencyMs;
    document.getElementById('fig-count').textContent = p.packetsLastMinute;
    document.getElementById('fig-stored').textContent = p.storedLastMinute < p.packetsLastMinute
      ? `last minute; ${p.storedLastMinute} kept as events (sampled)` : 'last minute';
    document.getElementById('fig-peers').textContent = `${d.peers.connected} / ${d.peers.configured}`;
    document.getElementById('fig-routes').textContent = `${d.routes} routes`;
    document.getElementById('fig-open').textContent = d.openSettlements.length;
    document.getElementById('fig-dropped').textContent = d.eventsDropped ? `${d.eventsDropped} events dropped` : '';
    fill('limits', d.balances, (b) => [b.peerId, `${b.assetCode}/${b.assetScale}`, b.balance, b.creditLimit ?? 'none', b.limitUsed == null ? '' : bar(b.limitUsed)]);
    fill('open-settlements', d.openSettlements, (s) => [s.peerId, s.method, s.amount, s.state, s.attempts, time(s.createdAt), s.lastError]);
  },
  packets: async () => {},
  balances: async () => {
    const [balances, history] = await Promise.all([getJson('/api/balances'), getJson('/api/balances/history?limit=360')]);
    const byPeer = new Map(history.map((h) => [h.peer, h.samples]));
    fill('balances', balances, (b) => [b.peerId, `${b.assetCode}/${b.assetScale}`, b.balance, b.debitsPending, b.creditsPending, b.creditLimit ?? 'none', sparkline(byPeer.get(b.peerId) ?? [])]);
  },
  peers: async () => {
    const [peers, routes, changes] = await Promise.all([getJson('/api/peers'), getJson('/api/routes'),
      getJson('/api/events?type=route_added,route_changed,route_removed,peer_up,peer_down&limit=50')]);
    fill('peers', peers, (p) => [p.id, p.relation, `${p.assetCode}/${p.assetScale}`, p.outgoing ? 'we connect' : 'connects to us', p.connected ? 'yes' : 'no']);
    document.getElementById('routes-meta').textContent = `address ${routes.ilpAddress}, epoch ${routes.currentEpoch}`;
    fill('routes', routes.routes, (r) => [r.prefix, r.nextHop ?? '(local)', r.origin, (r.path ?? []).join(' → ')], (r) => r.prefix);
    fill('route-events', changes.events, (e) => [time(e.time), [e.type, `type ${e.type}`], e.prefix, e.peer, e.message], (e) => e.seq);
  },
  settlements: async () => {
    const [s, timeline] = await Promise.all([getJson('/api/settlements'), getJson('/api/events?type=settlement_requested,settlement_paid,settlement_failed&limit=100')]);
    document.getElementById('settlement-methods').textContent = `methods: ${s.methods.join(', ') || 'none'} · open: ${s.open}`;
    fill('settlements', s.settlements, settlementCells);
    fill('settlement-events', timeline.events, (e) => [time(e.time), [e.type, `type ${e.type}`], e.peer, e.method, e.amount, e.latencyMs], (e) => e.seq);
    fill('channels', s.channels, (e) => [time(e.time), [e.type, `type ${e.type}`], e.peer, e.method, e.channelId, e.amount, e.reference], (e) => e.seq);
  },
  wallets: async () => {
    const w = await getJson('/api/wallets');
    for (const k of ['active', 'suspended', 'archived']) document.getElementById(`fig-wallets-${k}`).textContent = w.counts ? w.counts[k] : '–';
    document.getElementById('wallets-state').textContent = w.available ? '' : w.unavailable;
    fill('wallets', w.wallets ?? [], (x) => [x.agentId, [x.status, `wallet-${x.status}`], x.evmAddress, x.xrpAddress, time(x.createdAt), time(x.updatedAt)], (x) => x.agentId);
    fill('wallet-events', w.events, (e) => [time(e.time), [e.type, `type ${e.type}`], e.agent, e.message], (e) => e.seq);
  },
};

async function show(view) {
  current = view;
  document.querySelectorAll('nav button').forEach((x) => x.classList.toggle('active', x.dataset.view === view));
  for (const v of Object.keys(loaders)) document.getElementById(`view-${v}`).hidden = v !== view;
  await loaders[view]();
}

document.querySelectorAll('nav button').forEach((b) => b.addEventListener('click', () => show(b.dataset.view)));

// The open view refreshes itself: the dashboard every 2 s, the others when an event of theirs arrives (at most every 2 s).
let stale = false;
setInterval(() => {
  if (current === 'dashboard' || (stale && current !== 'packets')) { stale = false; loaders[current]().catch(() => {}); }
}, 2000);

async function start() {
  const page = await getJson('/api/events?type=fulfill,reject&limit=200');
  for (const e of page.events.slice().reverse()) packetRow(e);
  const live = document.getElementById('live');
  const source = new EventSource('/api/events/stream');
  source.onopen = () => { live.className = 'on'; live.textContent = 'live'; };
  source.onerror = () => { live.className = 'off'; live.textContent = 'reconnecting…'; };
  source.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.type === 'fulfill' || e.type === 'reject') packetRow(e); else stale = true;
  };
  await show('dashboard');
}
start();
