#!/usr/bin/env node
// The JavaScript ilp-connector 23 as our peer, settling with us by BTP TRANSFER (issue 13 defect 1).
// Account "m2m" dials our connector with btp-transfer-plugin.js; its balance middleware settles when it
// owes us past --settle-threshold (sendMoney → TRANSFER). Account "alice" dials --alice-url (a sender, e.g.
// btp-server-peer.js; a listener account beside a client account kept the client from ever connecting in
// ilp-connector 23). Routes: g.conn → m2m. Admin API on --admin-port (GET /balance).
// Events on stdout (JSON lines): ready | money-sent {amount} | money-received {amount}
'use strict'
const path = require('path')
const { parseArgs } = require('util')
const { createApp } = require('ilp-connector')

const { values } = parseArgs({
  options: {
    url: { type: 'string' }, // btp+ws://js:<token>@127.0.0.1:<port>
    'alice-url': { type: 'string' },
    'admin-port': { type: 'string' },
    'settle-threshold': { type: 'string', default: '-1000' },
    'timeout-ms': { type: 'string', default: '60000' }
  }
})
for (const url of [values.url, values['alice-url']]) {
  const host = new URL(url.replace(/^btp\+/, '')).hostname
  if (host !== '127.0.0.1') {
    process.stderr.write(`refusing to connect to non-loopback host "${host}"\n`)
    process.exit(1)
  }
}

const connector = createApp({
  env: 'test',
  ilpAddress: 'g.js',
  backend: 'one-to-one',
  spread: 0,
  store: 'memory',
  adminApi: true,
  adminApiPort: Number(values['admin-port']),
  adminApiHost: '127.0.0.1',
  disableMiddleware: ['rateLimit'],
  accounts: {
    m2m: {
      relation: 'peer',
      assetCode: 'USD',
      assetScale: 9,
      plugin: path.join(__dirname, 'btp-transfer-plugin.js'),
      sendRoutes: false,
      receiveRoutes: false,
      balance: { minimum: '-1000000000', maximum: '1000000000', settleThreshold: values['settle-threshold'], settleTo: '0' },
      options: { server: values.url }
    },
    alice: {
      relation: 'child',
      assetCode: 'USD',
      assetScale: 9,
      plugin: 'ilp-plugin-btp',
      sendRoutes: false,
      receiveRoutes: false,
      options: { server: values['alice-url'] }
    }
  },
  routes: [{ targetPrefix: 'g.conn', peerId: 'm2m' }]
})

setTimeout(() => process.exit(2), Number(values['timeout-ms'])).unref()
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
connector.listen()
  .then(() => process.stdout.write(JSON.stringify({ event: 'ready' }) + '\n'))
  .catch(err => {
    process.stderr.write((err && err.stack ? err.stack : String(err)) + '\n')
    process.exit(1)
  })
