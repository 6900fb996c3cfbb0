#!/usr/bin/env node
// A JavaScript ilp-connector 23.0.2 hop in front of our connector (issue 17): address test.jsconn, zero fees
// (one-to-one, spread 0), connected to our node as BTP peer "jsconn" (--m2m-url), route test.conn → m2m.
// Two child accounts listen on free 127.0.0.1 ports for npm clients: "payer" and "bob" (secret = account id).
// stdout: {"event":"ready","payerPort":N,"bobPort":M}; exits on stdin EOF.
'use strict'

require('./stream-node-compat')
const net = require('net')
const { parseArgs } = require('util')
const { createApp } = require('ilp-connector')
const lib = require('./peer-lib')

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

async function main () {
  const { values: v } = parseArgs({ options: { 'm2m-url': { type: 'string' }, 'm2m-prefix': { type: 'string', default: 'test.conn' }, 'timeout-ms': { type: 'string', default: '60000' } }, strict: true })
  if (!v['m2m-url'] || new URL(v['m2m-url'].replace(/^btp\+/, '')).hostname !== '127.0.0.1') throw new Error('--m2m-url btp+ws://jsconn:secret@127.0.0.1:port is required')
  setTimeout(() => { lib.emit({ event: 'exit', code: 2, reason: 'timeout' }); process.exit(2) }, Number(v['timeout-ms']))
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
  const [payerPort, bobPort] = [await freePort(), await freePort()]
  const child = (port, secret) => ({
    relation: 'child', assetCode: 'USD', assetScale: 9, plugin: 'ilp-plugin-btp',
    options: { listener: { port, secret } }
  })
  const app = createApp({
    env: 'test', ilpAddress: 'test.jsconn', backend: 'one-to-one', spread: 0, store: 'memory',
    disableMiddleware: ['rateLimit'],
    accounts: {
      m2m: { relation: 'peer', assetCode: 'USD', assetScale: 9, plugin: 'ilp-plugin-btp', sendRoutes: false, receiveRoutes: false, options: { server: v['m2m-url'] } },
      payer: child(payerPort, 'payer'),
      bob: child(bobPort, 'bob')
    },
    routes: [{ targetPrefix: v['m2m-prefix'], peerId: 'm2m' }]
  })
  await app.listen()
  lib.emit({ event: 'ready', payerPort, bobPort })
}

main().catch(lib.fatal)
