#!/usr/bin/env node
// Generates ILPv4 packet test vectors from the reference JS implementation (ilp-packet@3.1.3).
//
// Regenerate with:
//   cd tests/interop && npm ci && node gen-ilp-vectors.js
//
// Writes (paths relative to the repo root):
//   tests/M2M.Core.Tests/Fixtures/ilp-packet-vectors.json  - valid packets: serialized hex + decoded fields
//   tests/M2M.Core.Tests/Fixtures/ilp-packet-invalid.json  - byte strings ilp-packet's deserializeIlpPacket throws on
//   tests/M2M.Core.Tests/Fixtures/ilp-packet-oversize.json - packets ilp-packet accepts although their data exceeds
//                                                            RFC 27's 32767-byte limit (same format as the valid file)
//
// Output is deterministic: all "random" bytes come from a SHA-256 counter-mode stream with a fixed seed,
// and all timestamps are fixed. Running the script twice yields byte-identical files.
'use strict'

const fs = require('fs')
const path = require('path')
const crypto = require('crypto')
const IlpPacket = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')

const OUT_DIR = path.resolve(__dirname, '..', 'M2M.Core.Tests', 'Fixtures')
const VALID_FILE = path.join(OUT_DIR, 'ilp-packet-vectors.json')
const INVALID_FILE = path.join(OUT_DIR, 'ilp-packet-invalid.json')
const OVERSIZE_FILE = path.join(OUT_DIR, 'ilp-packet-oversize.json')

// ---------------------------------------------------------------------------------------------
// Deterministic byte source
// ---------------------------------------------------------------------------------------------
const SEED = 'm2m-connector ilp-packet vectors v1'
let counter = 0
function detBytes (n) {
  const chunks = []
  let have = 0
  while (have < n) {
    const h = crypto.createHash('sha256').update(SEED).update(String(counter++)).digest()
    chunks.push(h)
    have += h.length
  }
  return Buffer.concat(chunks).subarray(0, n)
}
function patternBytes (n) {
  // 0x00,0x01,...,0xff,0x00,... : easy to eyeball in a hex dump
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i & 0xff
  return b
}

const hex = (b) => Buffer.from(b).toString('hex')
const iso = (d) => d.toISOString() // always "YYYY-MM-DDTHH:mm:ss.sssZ"

// ---------------------------------------------------------------------------------------------
// Valid vectors
// ---------------------------------------------------------------------------------------------
const vectors = []
const names = new Set()
function push (v) {
  if (names.has(v.name)) throw new Error('duplicate vector name ' + v.name)
  names.add(v.name)
  vectors.push(v)
}

function addPrepare (name, p, extra) {
  const packet = {
    amount: p.amount,
    expiresAt: new Date(p.expiresAt),
    executionCondition: p.executionCondition,
    destination: p.destination,
    data: p.data
  }
  const bytes = IlpPacket.serializeIlpPrepare(packet)
  // round-trip sanity through the reference decoder
  const back = IlpPacket.deserializeIlpPacket(bytes)
  if (back.type !== 12 || back.data.amount !== p.amount || back.data.destination !== p.destination ||
      iso(back.data.expiresAt) !== iso(packet.expiresAt) || !back.data.data.equals(p.data) ||
      !back.data.executionCondition.equals(p.executionCondition)) {
    throw new Error('prepare round-trip mismatch: ' + name)
  }
  push(Object.assign({
    name,
    type: 'prepare',
    hex: hex(bytes),
    amount: p.amount,
    expiresAt: iso(packet.expiresAt),
    executionCondition: hex(p.executionCondition),
    destination: p.destination,
    data: hex(p.data)
  }, extra || {}))
}

function addFulfill (name, f, extra) {
  const bytes = IlpPacket.serializeIlpFulfill({ fulfillment: f.fulfillment, data: f.data })
  const back = IlpPacket.deserializeIlpPacket(bytes)
  if (back.type !== 13 || !back.data.fulfillment.equals(f.fulfillment) || !back.data.data.equals(f.data)) {
    throw new Error('fulfill round-trip mismatch: ' + name)
  }
  push(Object.assign({
    name,
    type: 'fulfill',
    hex: hex(bytes),
    fulfillment: hex(f.fulfillment),
    data: hex(f.data)
  }, extra || {}))
}

function addRejectBytes (name, r, bytes, extra) {
  const back = IlpPacket.deserializeIlpPacket(bytes)
  if (back.type !== 14 || back.data.code !== r.code || back.data.triggeredBy !== r.triggeredBy ||
      back.data.message !== r.message || !back.data.data.equals(r.data)) {
    throw new Error('reject round-trip mismatch: ' + name)
  }
  push(Object.assign({
    name,
    type: 'reject',
    hex: hex(bytes),
    code: r.code,
    triggeredBy: r.triggeredBy,
    message: r.message,
    data: hex(r.data)
  }, extra || {}))
}
function addReject (name, r, extra) {
  addRejectBytes(name, r, IlpPacket.serializeIlpReject(r), extra)
}

const T0 = '2026-11-24T13:00:00.123Z'
const COND_A = detBytes(32)
const COND_ZERO = Buffer.alloc(32, 0)
const COND_FF = Buffer.alloc(32, 0xff)
const PREIMAGE_B = detBytes(32)
const COND_B = crypto.createHash('sha256').update(PREIMAGE_B).digest()

// --- amounts --------------------------------------------------------------------------------
const amounts = [
  ['amount-zero', '0'],
  ['amount-one', '1'],
  ['amount-255', '255'],
  ['amount-256', '256'],
  ['amount-2pow32', '4294967296'],
  ['amount-2pow53-plus1', '9007199254740993'], // not representable as an IEEE double
  ['amount-2pow63-minus1', '9223372036854775807'],
  ['amount-2pow63', '9223372036854775808'], // overflows signed int64
  ['amount-max-uint64', '18446744073709551615']
]
for (const [n, a] of amounts) {
  addPrepare('prepare-' + n, { amount: a, expiresAt: T0, executionCondition: COND_A, destination: 'g.alice', data: Buffer.alloc(0) })
}

// --- data lengths at OER length-prefix boundaries ----------------------------------------------
// 0..127 -> 1-byte prefix; 128..255 -> 0x81 LL; 256..65535 -> 0x82 LLLL. A 65535-byte data field pushes the
// *envelope* content length past 65535, so the outer length prefix becomes 0x83 LLLLLL.
// RFC 27 caps data at 32767 bytes, so 32767 is the largest length in the valid file; 32768 and 65535 (which ilp-packet
// happily encodes/decodes) go to ilp-packet-oversize.json, see below.
const dataLens = [0, 1, 127, 128, 255, 256, 32767]
for (const len of dataLens) {
  addPrepare('prepare-data-len-' + len, {
    amount: '1000', expiresAt: T0, executionCondition: COND_B, destination: 'g.bob.receiver', data: len <= 256 ? detBytes(len) : patternBytes(len)
  }, { preimage: hex(PREIMAGE_B), note: 'executionCondition = sha256(preimage)' })
}
for (const len of [0, 1, 127, 128, 255, 256, 32767]) {
  addFulfill('fulfill-data-len-' + len, { fulfillment: PREIMAGE_B, data: len <= 256 ? detBytes(len) : patternBytes(len) },
    { condition: hex(COND_B) })
}
for (const len of [0, 1, 127, 128, 255, 256, 32767]) {
  addReject('reject-data-len-' + len, { code: 'F99', triggeredBy: 'g.connector', message: 'application error', data: len <= 256 ? detBytes(len) : patternBytes(len) })
}

// --- destinations ----------------------------------------------------------------------------
const longDest = (() => {
  // exactly 1023 chars (ILP_ADDRESS_MAX_LENGTH), segments of mixed allowed characters
  let s = 'g'
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-'
  let i = 0
  while (s.length < 1023) {
    if (s.length % 64 === 1) s += '.'
    else s += alphabet[(i++) % alphabet.length]
  }
  if (s.endsWith('.')) throw new Error('bad long destination')
  return s
})()
if (longDest.length !== 1023 || !IlpPacket.isValidIlpAddress(longDest)) throw new Error('longDest invalid')
const destinations = [
  ['all-allowed-chars', 'g.a-b_c~d.0'],
  ['mixed-case-alnum', 'g.ABCxyz019.Zz_9~-'],
  ['peer-config', 'peer.config'],
  ['peer-route-update', 'peer.route.update'],
  ['scheme-private', 'private.moneyd.alice'],
  ['scheme-example', 'example.alice'],
  ['scheme-test', 'test.alice'],
  ['scheme-test1', 'test1.alice'],
  ['scheme-test2', 'test2.alice'],
  ['scheme-test3', 'test3.alice'],
  ['scheme-local', 'local.host'],
  ['scheme-self', 'self.node'],
  ['single-char-segments', 'g.a.b.c.d.e.f.g'],
  ['len-1023', longDest]
]
for (const [n, d] of destinations) {
  addPrepare('prepare-dest-' + n, { amount: '42', expiresAt: T0, executionCondition: COND_A, destination: d, data: Buffer.from('hello', 'ascii') })
}

// --- expiry timestamps -----------------------------------------------------------------------
const expiries = [
  ['millis-000', '2026-01-01T00:00:00.000Z'],
  ['millis-001', '2026-01-01T00:00:00.001Z'],
  ['millis-999', '2026-12-31T23:59:59.999Z'],
  ['leap-day', '2028-02-29T12:34:56.789Z'],
  ['epoch-plus-1ms', '1970-01-01T00:00:00.001Z'], // exactly the epoch is rejected by ilp-packet (see README)
  ['year-9999', '9999-12-31T23:59:59.999Z']
]
for (const [n, e] of expiries) {
  addPrepare('prepare-expiry-' + n, { amount: '5', expiresAt: e, executionCondition: COND_ZERO, destination: 'g.x.y', data: Buffer.alloc(0) })
}

// --- conditions / fulfillments ---------------------------------------------------------------
addPrepare('prepare-condition-all-ff', { amount: '7', expiresAt: T0, executionCondition: COND_FF, destination: 'g.x', data: Buffer.from([0x00]) })
addFulfill('fulfill-all-zero', { fulfillment: Buffer.alloc(32, 0), data: Buffer.alloc(0) },
  { condition: hex(crypto.createHash('sha256').update(Buffer.alloc(32, 0)).digest()) })
addFulfill('fulfill-all-ff', { fulfillment: Buffer.alloc(32, 0xff), data: Buffer.alloc(0) },
  { condition: hex(crypto.createHash('sha256').update(Buffer.alloc(32, 0xff)).digest()) })
addFulfill('fulfill-random', { fulfillment: PREIMAGE_B, data: Buffer.from('ok', 'utf8') }, { condition: hex(COND_B) })

// --- ILDCP (peer.config) request/response as produced by ilp-protocol-ildcp ------------------
{
  const reqBytes = Ildcp.serializeIldcpRequest({ expiresAt: new Date(T0) })
  const req = IlpPacket.deserializeIlpPrepare(reqBytes)
  addPrepare('prepare-ildcp-request', {
    amount: req.amount, expiresAt: T0, executionCondition: req.executionCondition, destination: req.destination, data: req.data
  }, { note: 'ILDCP request from ilp-protocol-ildcp.serializeIldcpRequest: amount 0, destination peer.config, condition = sha256(32 zero bytes), empty data' })
  if (vectors[vectors.length - 1].hex !== hex(reqBytes)) throw new Error('ildcp request mismatch')

  const respBytes = Ildcp.serializeIldcpResponse({ clientAddress: 'test.connector.alice', assetScale: 9, assetCode: 'XRP' })
  const resp = IlpPacket.deserializeIlpFulfill(respBytes)
  addFulfill('fulfill-ildcp-response', { fulfillment: resp.fulfillment, data: resp.data }, {
    note: 'ILDCP response from ilp-protocol-ildcp.serializeIldcpResponse: fulfillment = 32 zero bytes; data = VarOctetString(clientAddress ascii) || UInt8(assetScale) || VarOctetString(assetCode utf8)',
    ildcp: { clientAddress: 'test.connector.alice', assetScale: 9, assetCode: 'XRP' }
  })
  if (vectors[vectors.length - 1].hex !== hex(respBytes)) throw new Error('ildcp response mismatch')

  const respBytes2 = Ildcp.serializeIldcpResponse({ clientAddress: 'g.usd-connector.child~1', assetScale: 255, assetCode: 'USD€' })
  const resp2 = IlpPacket.deserializeIlpFulfill(respBytes2)
  addFulfill('fulfill-ildcp-response-scale255-utf8-code', { fulfillment: resp2.fulfillment, data: resp2.data }, {
    note: 'ILDCP response; assetCode is UTF-8 ("USD€" is 6 bytes)',
    ildcp: { clientAddress: 'g.usd-connector.child~1', assetScale: 255, assetCode: 'USD€' }
  })
}

// --- every RFC 27 error code ------------------------------------------------------------------
const codes = ['F00', 'F01', 'F02', 'F03', 'F04', 'F05', 'F06', 'F07', 'F08', 'F99',
  'T00', 'T01', 'T02', 'T03', 'T04', 'T05', 'T99', 'R00', 'R01', 'R02', 'R99']
const codeMessages = {
  F00: 'bad request', F01: 'invalid packet', F02: 'no route found. source=g.a destination=g.b', F03: 'invalid amount',
  F04: 'insufficient destination amount', F05: 'wrong condition', F06: 'unexpected payment', F07: 'cannot receive',
  F08: 'amount too large', F99: 'final application error', T00: 'internal error', T01: 'peer unreachable', T02: 'peer busy',
  T03: 'connector busy', T04: 'insufficient liquidity', T05: 'rate limited', T99: 'temporary application error',
  R00: 'transfer timed out', R01: 'insufficient source amount', R02: 'insufficient timeout', R99: 'relative application error'
}
for (const c of codes) {
  addReject('reject-code-' + c, { code: c, triggeredBy: 'g.connector.m2m', message: codeMessages[c], data: Buffer.alloc(0) })
}
if (!codes.every(c => Object.values(IlpPacket.IlpError).includes(c)) || Object.values(IlpPacket.IlpError).length !== codes.length) {
  throw new Error('error code list out of sync with ilp-packet IlpError')
}

// --- F08 AmountTooLarge with the standard 16-byte data ----------------------------------------
// ilp-packet's Errors.AmountTooLargeError(message, { receivedAmount, maximumAmount }) sets
// ilpErrorData = UInt64BE(receivedAmount) || UInt64BE(maximumAmount) (oer-utils Writer.writeUInt64 = 8-byte big-endian).
// ilp-connector's max-packet-amount middleware throws exactly this with
// message `packet size too large. maxAmount=${max} actualAmount=${packet.amount}` and receivedAmount = packet.amount
// (the amount of the incoming Prepare, in the units of the account it arrived on).
const F08_NOTE = 'F08 data is 16 bytes: receivedAmount as UInt64 big-endian followed by maximumAmount as UInt64 big-endian; ' +
  'built via ilp-packet Errors.AmountTooLargeError(message, {receivedAmount, maximumAmount}) + errorToReject, ' +
  'which is what ilp-connector (max-packet-amount middleware) emits with message "packet size too large. maxAmount=M actualAmount=R".'
for (const [n, recv, max] of [['small', '1001', '1000'], ['large', '18446744073709551615', '9223372036854775808'], ['zero-max', '1', '0']]) {
  const message = `packet size too large. maxAmount=${max} actualAmount=${recv}`
  const err = new IlpPacket.Errors.AmountTooLargeError(message, { receivedAmount: recv, maximumAmount: max })
  const bytes = IlpPacket.errorToReject('g.connector.m2m', err)
  const r = IlpPacket.deserializeIlpReject(bytes)
  if (r.data.length !== 16 || r.data.readBigUInt64BE(0).toString() !== recv || r.data.readBigUInt64BE(8).toString() !== max) {
    throw new Error('F08 data layout unexpected')
  }
  addRejectBytes('reject-F08-amount-too-large-' + n, r, bytes, { receivedAmount: recv, maximumAmount: max, note: F08_NOTE })
}

// --- reject text edge cases -------------------------------------------------------------------
addReject('reject-unicode-message', { code: 'F02', triggeredBy: 'g.connector', message: 'Überweisung fehlgeschlagen – 支付失败 – 🚫💸', data: Buffer.alloc(0) },
  { note: 'message is UTF-8 encoded on the wire (byte length != char length)' })
addReject('reject-unicode-combining-and-astral', { code: 'T00', triggeredBy: 'g.c', message: 'e\u0301 \u{1F600} \u{10FFFF} \u0000 nul', data: Buffer.from([1, 2, 3]) })
addReject('reject-message-len-128-bytes', { code: 'F00', triggeredBy: 'g.c', message: 'ü'.repeat(64), data: Buffer.alloc(0) },
  { note: '64 chars, 128 UTF-8 bytes -> 2-byte length prefix 0x81 0x80' })
addReject('reject-message-len-300', { code: 'R00', triggeredBy: 'g.c', message: 'x'.repeat(300), data: Buffer.alloc(0) })
addReject('reject-empty-message', { code: 'T01', triggeredBy: 'g.c', message: '', data: Buffer.alloc(0) })
addReject('reject-empty-triggeredBy', { code: 'F02', triggeredBy: '', message: 'no triggeredBy', data: Buffer.alloc(0) },
  { note: 'ilp-packet accepts an empty triggeredBy on decode (isValidIlpAddress || === "")' })
addReject('reject-triggeredBy-len-1023', { code: 'T04', triggeredBy: longDest, message: 'long triggeredBy', data: Buffer.alloc(0) })
addReject('reject-non-standard-code', { code: 'X42', triggeredBy: 'g.c', message: 'non-RFC code, still 3 ascii bytes', data: Buffer.alloc(0) },
  { note: 'ilp-packet does not validate the code on decode beyond taking 3 bytes' })

// ---------------------------------------------------------------------------------------------
// Oversize: data longer than RFC 27's 32767 bytes. ilp-packet encodes and decodes these without complaint; an
// RFC-conforming decoder may reject them. 65535-byte data also pushes the envelope length prefix to 0x83 LLLLLL.
// ---------------------------------------------------------------------------------------------
const validVectors = vectors.splice(0) // addPrepare/addFulfill/addReject push into `vectors`
const RFC27_NOTE = 'data is longer than the 32767 bytes RFC 27 allows; ilp-packet 3.1.3 accepts it anyway'
for (const len of [32768, 65535]) {
  addPrepare('oversize-prepare-data-len-' + len, { amount: '1000', expiresAt: T0, executionCondition: COND_B, destination: 'g.bob.receiver', data: patternBytes(len) },
    { preimage: hex(PREIMAGE_B), note: RFC27_NOTE })
}
for (const len of [32768]) { // kept small: the file stores every byte twice as hex
  addFulfill('oversize-fulfill-data-len-' + len, { fulfillment: PREIMAGE_B, data: patternBytes(len) }, { condition: hex(COND_B), note: RFC27_NOTE })
  addReject('oversize-reject-data-len-' + len, { code: 'F99', triggeredBy: 'g.connector', message: 'application error', data: patternBytes(len) }, { note: RFC27_NOTE })
}
const oversizeVectors = vectors.splice(0)

// ---------------------------------------------------------------------------------------------
// Invalid inputs: byte strings that IlpPacket.deserializeIlpPacket throws on
// ---------------------------------------------------------------------------------------------
const invalid = []
function addInvalid (name, bytes, why) {
  let threw = null
  try {
    IlpPacket.deserializeIlpPacket(Buffer.from(bytes))
  } catch (e) {
    threw = e.message
  }
  if (threw === null) throw new Error('expected ilp-packet to reject invalid vector ' + name)
  invalid.push({ name, invalid: true, hex: hex(bytes), why, ilpPacketError: threw })
}
function mustAccept (name, bytes) {
  IlpPacket.deserializeIlpPacket(Buffer.from(bytes)) // throws -> generator bug
}

const basePrepare = IlpPacket.serializeIlpPrepare({
  amount: '1000', expiresAt: new Date(T0), executionCondition: COND_B, destination: 'g.bob', data: Buffer.from('abc')
})
const baseFulfill = IlpPacket.serializeIlpFulfill({ fulfillment: PREIMAGE_B, data: Buffer.from('abc') })
const baseReject = IlpPacket.serializeIlpReject({ code: 'F02', triggeredBy: 'g.c', message: 'm', data: Buffer.alloc(0) })

// Build a prepare from raw parts, so single fields can be corrupted.
function rawPrepare ({ amount = Buffer.from('00000000000003e8', 'hex'), expiry = Buffer.from('20261124130000123', 'ascii'),
  condition = COND_B, destination = Buffer.from('g.bob', 'ascii'), data = Buffer.from('abc') } = {}) {
  const lp = (b) => {
    if (b.length < 128) return Buffer.from([b.length])
    if (b.length < 256) return Buffer.from([0x81, b.length])
    return Buffer.from([0x82, b.length >> 8, b.length & 0xff])
  }
  const content = Buffer.concat([amount, expiry, condition, lp(destination), destination, lp(data), data])
  return Buffer.concat([Buffer.from([12]), lp(content), content])
}
if (!rawPrepare().equals(basePrepare)) throw new Error('rawPrepare helper does not match serializer')

addInvalid('empty', Buffer.alloc(0), 'zero-length input')
addInvalid('type-only', Buffer.from([12]), 'type byte with no length prefix')
addInvalid('wrong-type-0', Buffer.concat([Buffer.from([0]), basePrepare.subarray(1)]), 'type byte 0 is not prepare(12)/fulfill(13)/reject(14)')
addInvalid('wrong-type-11', Buffer.concat([Buffer.from([11]), basePrepare.subarray(1)]), 'type byte 11 (legacy ILPv1 type range) is not 12/13/14')
addInvalid('wrong-type-15', Buffer.concat([Buffer.from([15]), basePrepare.subarray(1)]), 'type byte 15 is not 12/13/14')
addInvalid('wrong-type-1-btp-response', Buffer.concat([Buffer.from([1]), basePrepare.subarray(1)]), 'type byte 1 (a BTP RESPONSE type) is not an ILP packet')
addInvalid('prepare-bytes-labelled-fulfill', Buffer.concat([Buffer.from([13]), basePrepare.subarray(1)]),
  'prepare content under fulfill type: fulfillment(32) ok, then data length prefix read from garbage overruns the content')
for (const cut of [2, 5, 10, 27, 40, 59, 62, basePrepare.length - 1]) {
  addInvalid('prepare-truncated-to-' + cut, basePrepare.subarray(0, cut), `prepare truncated to ${cut} of ${basePrepare.length} bytes`)
}
addInvalid('fulfill-truncated-fulfillment', baseFulfill.subarray(0, 20), 'fulfill truncated inside the 32-byte fulfillment')
addInvalid('fulfill-missing-data-field', Buffer.concat([Buffer.from([13, 32]), PREIMAGE_B]), 'fulfill content is exactly 32 bytes: the data VarOctetString is missing')
addInvalid('fulfill-short-content', Buffer.concat([Buffer.from([13, 31]), PREIMAGE_B.subarray(0, 31)]), 'fulfillment only 31 bytes')
addInvalid('reject-truncated', baseReject.subarray(0, baseReject.length - 1), 'reject missing the last byte (data length prefix)')
addInvalid('reject-code-only', Buffer.from([14, 3, 0x46, 0x30, 0x32]), 'reject with only the 3-byte code')
addInvalid('length-prefix-overruns', Buffer.concat([Buffer.from([12, 0x7f]), basePrepare.subarray(2)]), 'envelope length 127 but fewer bytes follow')
addInvalid('length-prefix-0x80', Buffer.concat([Buffer.from([12, 0x80]), basePrepare.subarray(2)]), 'length-of-length 0 (0x80) is not canonical OER')
addInvalid('non-canonical-envelope-length-0x81', Buffer.concat([Buffer.from([12, 0x81]), basePrepare.subarray(1)]),
  'envelope length < 128 encoded in long form 0x81 LL: not canonical OER')
{
  const c = basePrepare.subarray(2)
  addInvalid('non-canonical-envelope-length-0x82', Buffer.concat([Buffer.from([12, 0x82, 0x00, c.length]), c]),
    'envelope length < 256 encoded with 2-byte long form 0x82 00 LL: not canonical OER')
}
{
  // data field of 3 bytes with its length encoded as 0x81 0x03 (non-canonical) inside an otherwise valid prepare
  const good = rawPrepare()
  const content = good.subarray(2)
  const dataLenPos = content.length - 4
  if (content[dataLenPos] !== 3) throw new Error('unexpected layout')
  const badContent = Buffer.concat([content.subarray(0, dataLenPos), Buffer.from([0x81, 0x03]), content.subarray(dataLenPos + 1)])
  addInvalid('non-canonical-data-length', Buffer.concat([Buffer.from([12, badContent.length]), badContent]),
    'data length 3 encoded as 0x81 0x03 (long form for a value < 128): not canonical OER')
}
{
  const dest = Buffer.from('g.bob', 'ascii')
  const good = rawPrepare()
  const content = good.subarray(2)
  const destLenPos = 8 + 17 + 32
  if (content[destLenPos] !== dest.length) throw new Error('unexpected layout')
  const badContent = Buffer.concat([content.subarray(0, destLenPos), Buffer.from([0x82, 0x00, dest.length]), content.subarray(destLenPos + 1)])
  addInvalid('non-canonical-destination-length', Buffer.concat([Buffer.from([12, badContent.length]), badContent]),
    'destination length 5 encoded as 0x82 0x00 0x05: not canonical OER')
}
addInvalid('envelope-length-of-length-9', Buffer.concat([Buffer.from([12, 0x89]), Buffer.alloc(9, 0xff), basePrepare.subarray(2)]),
  'length-of-length 9 (> 8 bytes / beyond safe integer) for the envelope')
addInvalid('expiry-not-digits', rawPrepare({ expiry: Buffer.from('2026112413000012X', 'ascii') }), 'expiresAt contains a non-digit character')
addInvalid('expiry-all-letters', rawPrepare({ expiry: Buffer.from('abcdefghijklmnopq', 'ascii') }), 'expiresAt is not a timestamp at all')
addInvalid('destination-empty', rawPrepare({ destination: Buffer.alloc(0) }), 'empty destination is not a valid ILP address')
addInvalid('destination-bad-scheme', rawPrepare({ destination: Buffer.from('foo.bar', 'ascii') }), 'unknown allocation scheme "foo"')
addInvalid('destination-scheme-only', rawPrepare({ destination: Buffer.from('g', 'ascii') }), 'address must have at least one segment after the scheme')
addInvalid('destination-empty-segment', rawPrepare({ destination: Buffer.from('g..a', 'ascii') }), 'empty segment')
addInvalid('destination-trailing-dot', rawPrepare({ destination: Buffer.from('g.a.', 'ascii') }), 'trailing dot')
addInvalid('destination-space', rawPrepare({ destination: Buffer.from('g.a b', 'ascii') }), 'space is not an allowed address character')
addInvalid('destination-len-1024', rawPrepare({ destination: Buffer.from(longDest + 'x', 'ascii') }), 'address longer than 1023 characters')
addInvalid('destination-uppercase-scheme', rawPrepare({ destination: Buffer.from('G.alice', 'ascii') }), 'scheme is case-sensitive: "G" is not allowed')
addInvalid('destination-non-ascii', rawPrepare({ destination: Buffer.from('g.caf\xc3\xa9', 'latin1') }), 'non-ASCII bytes in destination')
{
  const r = Buffer.concat([Buffer.from('F02', 'ascii'), Buffer.from([4]), Buffer.from('nope'), Buffer.from([0]), Buffer.from([0])])
  addInvalid('reject-invalid-triggeredBy', Buffer.concat([Buffer.from([14, r.length]), r]), 'triggeredBy "nope" is not a valid ILP address (and not empty)')
}

// Things ilp-packet 3.1.3 ACCEPTS (documented in README; asserted here so a dependency change is noticed):
const lenient = {}
lenient.trailingBytesAfterEnvelope = Buffer.concat([basePrepare, Buffer.from([0xde, 0xad])])
{
  const content = basePrepare.subarray(2)
  const c2 = Buffer.concat([content, Buffer.from([0xde, 0xad])])
  lenient.trailingBytesInsideEnvelope = Buffer.concat([Buffer.from([12, c2.length]), c2])
}
lenient.expirySpaces = rawPrepare({ expiry: Buffer.from('                 ', 'ascii') }) // +' ' === 0 in JS
lenient.expiryMonth13 = rawPrepare({ expiry: Buffer.from('20261324130000123', 'ascii') })
lenient.fulfillExtraBytes = Buffer.concat([Buffer.from([13, 0x24]), PREIMAGE_B, Buffer.from([0x00, 0xaa, 0xbb, 0xcc])])
for (const [k, b] of Object.entries(lenient)) mustAccept(k, b)
// Quirk in the other direction: ilp-packet rejects expiresAt == Unix epoch (Date value 0 is falsy in `if (!date.valueOf())`).
// Not put in the invalid file because the RFC does not forbid it; asserted so a behaviour change is noticed.
{
  let threw = false
  try { IlpPacket.deserializeIlpPacket(rawPrepare({ expiry: Buffer.from('19700101000000000', 'ascii') })) } catch (e) { threw = true }
  if (!threw) throw new Error('epoch-expiry behaviour changed')
}
{
  const d = IlpPacket.deserializeIlpPacket(lenient.expiryMonth13).data.expiresAt
  if (iso(d) !== '2027-01-24T13:00:00.123Z') throw new Error('month-13 rollover behaviour changed: ' + iso(d))
}

// ---------------------------------------------------------------------------------------------
fs.mkdirSync(OUT_DIR, { recursive: true })
fs.writeFileSync(VALID_FILE, JSON.stringify(validVectors, null, 2) + '\n')
fs.writeFileSync(INVALID_FILE, JSON.stringify(invalid, null, 2) + '\n')
fs.writeFileSync(OVERSIZE_FILE, JSON.stringify(oversizeVectors, null, 2) + '\n')
const byType = validVectors.reduce((m, v) => { m[v.type] = (m[v.type] || 0) + 1; return m }, {})
process.stderr.write(`wrote ${validVectors.length} valid vectors (${JSON.stringify(byType)}) to ${path.relative(process.cwd(), VALID_FILE)}\n`)
process.stderr.write(`wrote ${invalid.length} invalid vectors to ${path.relative(process.cwd(), INVALID_FILE)}\n`)
process.stderr.write(`wrote ${oversizeVectors.length} oversize vectors to ${path.relative(process.cwd(), OVERSIZE_FILE)}\n`)
