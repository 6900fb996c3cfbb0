'use strict';
// The Explorer page: a live packet table fed by Server-Sent Events, an inspector, balances and peers.
// Plain browser JavaScript, no build step; the session cookie authenticates every request.
const MaxRows = 500;
const rows = new Map();
const tbody = document.querySelector('#packets tbody');
const text = (v) => v === undefined || v === null ? '' : String(v);

function packetRow(e) {
  if (e.type !== 'fulfill' && e.type !== 'reject') return;
  if (rows.has(e.seq)) return;
  rows.set(e.seq, e);
  const tr = document.createElement('tr');
  tr.className = e.type;
  tr.dataset.seq = e.seq;
  for (const [v, cls] of [[e.seq], [new Date(e.time).toLocaleTimeString()], [e.type, 'type'], [e.amount], [e.destination], [e.peerIn], [e.peerOut], [e.latencyMs], [e.code]]) {
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

function fill(tableId, items, cells) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  for (const it of items) {
    const tr = document.createElement('tr');
    tr.dataset.id = it.peerId ?? it.id;
    for (const v of cells(it)) { const td = document.createElement('td'); td.textContent = text(v); tr.appendChild(td); }
    body.appendChild(tr);
  }
}

const loaders = {
  packets: async () => {},
  balances: async () => fill('balances', await getJson('/api/balances'),
    (b) => [b.peerId, `${b.assetCode}/${b.assetScale}`, b.balance, b.debitsPending, b.creditsPending, b.creditLimit ?? 'none']),
  peers: async () => fill('peers', await getJson('/api/peers'),
    (p) => [p.id, p.relation, `${p.assetCode}/${p.assetScale}`, p.outgoing ? 'we connect' : 'connects to us', p.connected ? 'yes' : 'no']),
};

document.querySelectorAll('nav button').forEach((b) => b.addEventListener('click', async () => {
  document.querySelectorAll('nav button').forEach((x) => x.classList.toggle('active', x === b));
  for (const v of Object.keys(loaders)) document.getElementById(`view-${v}`).hidden = v !== b.dataset.view;
  await loaders[b.dataset.view]();
}));

async function start() {
  const page = await getJson('/api/events?limit=200');
  for (const e of page.events.slice().reverse()) packetRow(e);
  const live = document.getElementById('live');
  const source = new EventSource('/api/events/stream');
  source.onopen = () => { live.className = 'on'; live.textContent = 'live'; };
  source.onerror = () => { live.className = 'off'; live.textContent = 'reconnecting…'; };
  source.onmessage = (m) => packetRow(JSON.parse(m.data));
}
start();
