#!/usr/bin/env node
// STREAM/SPSP client interop peer (issue 17): ilp-plugin-btp + ilp-protocol-spsp + ilp-protocol-stream pay a payment
// pointer hosted by our connector. One JSON event per line on stdout; exit 0 ok, 1 error, 2 timeout.
'use strict'

require('./stream-node-compat')
const crypto = require('crypto')
const { parseArgs } = require('util')
const IlpPacket = require('ilp-packet')
const SPSP = require('ilp-protocol-spsp')
const { createConnection } = require('ilp-protocol-stream')
const lib = require('./peer-lib')

const USAGE = `usage: node stream-client.js --url btp+ws://<user>:<token>@127.0.0.1:<port> --pointer http://127.0.0.1:<port>/<account>
  [--mode pay|wrong-secret|garbage|stream|receipts]   default pay
     receipts:     like stream, but asks SPSP for RFC 39 receipts and verifies the last one (ilp-protocol-stream's verifyReceipt)
     pay:          SPSP.pay(plugin, {receiver, sourceAmount})
     stream:       SPSP query, then createConnection + stream.sendTotal in --chunks packets of at most --max-packet
     wrong-secret: SPSP query, then a STREAM connection with a random shared secret (must fail)
     garbage:      SPSP query, then one raw Prepare to the destination with random data (must be rejected F06)
  [--amount N] [--max-packet N] [--timeout-ms 30000]
`

function parse () {
  try {
    return parseArgs({
      options: {
        url: { type: 'string' },
        pointer: { type: 'string' },
        mode: { type: 'string', default: 'pay' },
        amount: { type: 'string', default: '1000' },
        'max-packet': { type: 'string' },
        'timeout-ms': { type: 'string', default: '30000' },
        verbose: { type: 'boolean', default: false }
      },
      strict: true
    }).values
  } catch (e) {
    process.stderr.write(e.message + '\n' + USAGE)
    process.exit(1)
  }
}

/** One STREAM connection to the SPSP answer, one stream, sendTotal(--amount) in packets of at most --max-packet. */
async function sendTotal (plugin, spsp, v) {
  const conn = await createConnection({
    plugin,
    destinationAccount: spsp.destination_account,
    sharedSecret: Buffer.from(spsp.shared_secret, 'base64'),
    maximumPacketAmount: v['max-packet']
  })
  const stream = conn.createStream()
  await stream.sendTotal(v.amount, { timeout: Number(v['timeout-ms']) - 2000 })
  return { conn, stream }
}

async function main () {
  const v = parse()
  if (!v.url || !v.pointer) {
    process.stderr.write(USAGE)
    process.exit(1)
  }
  for (const u of [v.url.replace(/^btp\+/, ''), v.pointer]) {
    if (new URL(u).hostname !== '127.0.0.1') throw new Error(`refusing non-loopback URL ${u}`)
  }
  setTimeout(() => { lib.emit({ event: 'exit', code: 2, reason: 'timeout' }); process.exit(2) }, Number(v['timeout-ms']))
  const plugin = lib.createClientPlugin({ url: v.url, log: lib.makeLogger('stream-client', v.verbose) })
  await plugin.connect()
  lib.emit({ event: 'connected' })
  if (v.mode === 'pay') {
    const result = await SPSP.pay(plugin, { receiver: v.pointer, sourceAmount: v.amount })
    lib.emit({ event: 'paid', totalSent: String(result.totalSent) })
  } else if (v.mode === 'stream') {
    const { conn, stream } = await sendTotal(plugin, await SPSP.query(v.pointer), v)
    lib.emit({ event: 'paid', totalSent: String(stream.totalSent), remoteReceived: String(stream._remoteReceived) })
    await conn.end()
  } else if (v.mode === 'receipts') {
    const nonce = crypto.randomBytes(16)
    const secret = crypto.randomBytes(32)
    const res = await fetch(v.pointer, { headers: { accept: 'application/spsp4+json', 'receipt-nonce': nonce.toString('base64'), 'receipt-secret': secret.toString('base64') } })
    const spsp = await res.json()
    const { conn, stream } = await sendTotal(plugin, spsp, v)
    const { verifyReceipt } = require('ilp-protocol-stream/dist/src/util/receipt')
    const r = verifyReceipt(stream.receipt, secret)
    lib.emit({ event: 'receipt', receiptsEnabled: spsp.receipts_enabled, streamId: String(r.streamId), totalReceived: String(r.totalReceived), nonceMatches: r.nonce.equals(nonce) })
    await conn.end()
  } else if (v.mode === 'wrong-secret') {
    const spsp = await SPSP.query(v.pointer)
    try {
      const conn = await createConnection({ plugin, destinationAccount: spsp.destination_account, sharedSecret: crypto.randomBytes(32) })
      const stream = conn.createStream()
      await stream.sendTotal(v.amount, { timeout: 3000 })
      lib.emit({ event: 'paid', totalSent: String(stream.totalSent) })
    } catch (e) {
      lib.emit({ event: 'failed', message: String(e && e.message) })
    }
  } else if (v.mode === 'garbage') {
    const spsp = await SPSP.query(v.pointer)
    const data = crypto.randomBytes(64)
    const reply = IlpPacket.deserializeIlpPacket(await plugin.sendData(IlpPacket.serializeIlpPrepare({
      amount: v.amount,
      executionCondition: crypto.createHash('sha256').update(crypto.randomBytes(32)).digest(),
      expiresAt: new Date(Date.now() + 10000),
      destination: spsp.destination_account,
      data
    })))
    lib.emit({ event: 'reply', type: reply.typeString, code: reply.data.code || null, dataLength: (reply.data.data || Buffer.alloc(0)).length })
  } else {
    throw new Error(`unknown --mode ${v.mode}`)
  }
  await plugin.disconnect()
  lib.emit({ event: 'exit', code: 0, reason: 'done' })
  process.exit(0)
}

main().catch(lib.fatal)
