#!/usr/bin/env node
// Writes tests/M2M.Core.Tests/Fixtures/stream-vectors.json: STREAM (RFC 29) crypto and packet bytes produced by
// ilp-protocol-stream 2.7.1, so the C# codec and crypto are checked byte for byte (issue 17).
'use strict'
const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const Long = require('long')
const P = require('ilp-protocol-stream/dist/src/packet')
const C = require('ilp-protocol-stream/dist/src/util/crypto-node')
const H = require('ilp-protocol-stream/dist/src/crypto')
const R = require('ilp-protocol-stream/dist/src/util/receipt')

const seed = Buffer.alloc(32, 7)
const token = Buffer.from('an-address-token-0123456789', 'ascii')
const sharedSecret = C.generateSharedSecretFromToken(seed, token)
const encKey = crypto.createHmac('sha256', sharedSecret).update('ilp_stream_encryption').digest()
const fulKey = crypto.createHmac('sha256', sharedSecret).update('ilp_stream_fulfillment').digest()
const data = Buffer.from('prepare data for the fulfillment', 'utf8')
const fulfillment = crypto.createHmac('sha256', fulKey).update(data).digest()

const frames = [
  new P.ConnectionCloseFrame(P.ErrorCode.ApplicationError, 'bye'),
  new P.ConnectionNewAddressFrame('test.sender.x'),
  new P.ConnectionAssetDetailsFrame('USD', 9),
  new P.ConnectionMaxDataFrame(Long.fromNumber(16384, true)),
  new P.ConnectionMaxStreamIdFrame(Long.fromNumber(20, true)),
  new P.StreamCloseFrame(Long.fromNumber(1, true), P.ErrorCode.NoError, ''),
  new P.StreamMoneyFrame(Long.fromNumber(3, true), Long.fromNumber(2, true)),
  new P.StreamMaxMoneyFrame(Long.fromNumber(1, true), Long.MAX_UNSIGNED_VALUE, Long.fromString('123456789012', true)),
  new P.StreamMoneyBlockedFrame(Long.fromNumber(1, true), Long.fromNumber(500, true), Long.fromNumber(400, true)),
  new P.StreamDataFrame(Long.fromNumber(5, true), Long.fromNumber(10, true), Buffer.from('hello')),
  new P.StreamMaxDataFrame(Long.fromNumber(5, true), Long.fromNumber(1000, true)),
  new P.StreamReceiptFrame(Long.fromNumber(1, true), Buffer.alloc(58, 9))
]
const packet = new P.Packet(Long.fromString('18446744073709551615', true), 12, Long.fromString('1000000', true), frames)
const plain = packet._serialize()

async function main () {
  const encrypted = await packet.serializeAndEncrypt(encKey)
  const out = {
    generator: 'ilp-protocol-stream 2.7.1 (tests/interop/gen-stream-vectors.js)',
    seed: seed.toString('hex'),
    token: token.toString('hex'),
    sharedSecret: sharedSecret.toString('hex'),
    encryptionKey: encKey.toString('hex'),
    fulfillmentKey: fulKey.toString('hex'),
    prepareData: data.toString('hex'),
    fulfillment: fulfillment.toString('hex'),
    condition: (await H.hash(fulfillment)).toString('hex'),
    packet: plain.toString('hex'),
    packetEncrypted: encrypted.toString('hex'),
    frameCount: frames.length,
    receiptNonce: Buffer.alloc(16, 5).toString('hex'),
    receiptSecret: Buffer.alloc(32, 6).toString('hex'),
    receipt: R.createReceipt({ nonce: Buffer.alloc(16, 5), streamId: 1, totalReceived: '12345', secret: Buffer.alloc(32, 6) }).toString('hex')
  }
  const file = path.join(__dirname, '..', 'M2M.Core.Tests', 'Fixtures', 'stream-vectors.json')
  fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n')
  process.stdout.write(`wrote ${file}\n`)
}
main().catch(e => { process.stderr.write(e.stack + '\n'); process.exit(1) })
