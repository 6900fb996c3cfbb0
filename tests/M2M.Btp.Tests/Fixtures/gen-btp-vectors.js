// Generates btp-packet-vectors.json: reference BTP 2.0 encodings from the npm package
// btp-packet@2.2.1 (the codec ilp-plugin-btp uses), so our C# codec can be checked byte for byte.
//
// Regenerate:
//   mkdir /tmp/btpref && cd /tmp/btpref && npm init -y && npm i btp-packet@2.2.1
//   node /path/to/tests/M2M.Btp.Tests/Fixtures/gen-btp-vectors.js > /path/to/tests/M2M.Btp.Tests/Fixtures/btp-packet-vectors.json
// (run from /tmp/btpref so require() finds btp-packet and its dateformat dependency).
'use strict'
// Resolve packages from the working directory (the scratch dir), not from this file's location.
const requireFromCwd = require('module').createRequire(process.cwd() + '/')
const btp = requireFromCwd('btp-packet')
const dateFormat = requireFromCwd('dateformat')

const OCTET = btp.MIME_APPLICATION_OCTET_STREAM
const TEXT = btp.MIME_TEXT_PLAIN_UTF8
const JSON_ = btp.MIME_APPLICATION_JSON

const pd = (protocolName, contentType, data) => ({ protocolName, contentType, data })
const utf8 = (s) => Buffer.from(s, 'utf8')
const hex = (h) => Buffer.from(h, 'hex')
const filled = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))

// Same formatting btp-packet applies to triggeredAt on the wire (GeneralizedTime).
const wireTime = (iso) => dateFormat(iso, "UTC:yyyymmddHHMMss.l'Z'")

const cases = [
  ['message-ilp-prepare', { type: btp.TYPE_MESSAGE, requestId: 1, data: { protocolData: [pd('ilp', OCTET, hex('0c6c0000000000000064323031373132323330313231323038396bc8d91e2e4eb8ce1d8e4c8f4e2a1c3b0f2e6b9b4d1f3a2c5e7d9b1a3c5e7f0d0b6578616d706c652e616c6963650000'))] } }],
  ['message-auth', { type: btp.TYPE_MESSAGE, requestId: 0x12345678, data: { protocolData: [pd('auth', OCTET, Buffer.alloc(0)), pd('auth_username', TEXT, utf8('alice')), pd('auth_token', TEXT, utf8('s3cret-token'))] } }],
  ['message-auth-empty-username', { type: btp.TYPE_MESSAGE, requestId: 7, data: { protocolData: [pd('auth', OCTET, Buffer.alloc(0)), pd('auth_username', TEXT, Buffer.alloc(0)), pd('auth_token', TEXT, utf8('tok'))] } }],
  ['message-no-protocol-data', { type: btp.TYPE_MESSAGE, requestId: 0, data: { protocolData: [] } }],
  ['message-json', { type: btp.TYPE_MESSAGE, requestId: 4294967295, data: { protocolData: [pd('info', JSON_, utf8('{"a":1,"b":"\u00e9"}'))] } }],
  ['message-ilp-long-127', { type: btp.TYPE_MESSAGE, requestId: 2, data: { protocolData: [pd('ilp', OCTET, filled(127, 1))] } }],
  ['message-ilp-long-128', { type: btp.TYPE_MESSAGE, requestId: 3, data: { protocolData: [pd('ilp', OCTET, filled(128, 2))] } }],
  ['message-ilp-long-256', { type: btp.TYPE_MESSAGE, requestId: 4, data: { protocolData: [pd('ilp', OCTET, filled(256, 3))] } }],
  ['message-ilp-max-ilp-size', { type: btp.TYPE_MESSAGE, requestId: 5, data: { protocolData: [pd('ilp', OCTET, filled(32767 + 40, 4))] } }],
  ['message-300-entries', { type: btp.TYPE_MESSAGE, requestId: 8, data: { protocolData: Array.from({ length: 300 }, (_, i) => pd('p' + i, i % 3, filled(i % 5, i))) } }],
  ['message-255-entries', { type: btp.TYPE_MESSAGE, requestId: 9, data: { protocolData: Array.from({ length: 255 }, (_, i) => pd('x', OCTET, Buffer.alloc(0))) } }],
  ['message-custom-content-type', { type: btp.TYPE_MESSAGE, requestId: 10, data: { protocolData: [pd('custom', 200, hex('deadbeef'))] } }],
  ['response-empty', { type: btp.TYPE_RESPONSE, requestId: 1, data: { protocolData: [] } }],
  ['response-ilp-fulfill', { type: btp.TYPE_RESPONSE, requestId: 0xdeadbeef, data: { protocolData: [pd('ilp', OCTET, hex('0d21' + '11'.repeat(32) + '00'))] } }],
  ['response-two-entries', { type: btp.TYPE_RESPONSE, requestId: 11, data: { protocolData: [pd('ilp', OCTET, hex('0e00')), pd('extra', TEXT, utf8('hello'))] } }],
  ['transfer-zero', { type: btp.TYPE_TRANSFER, requestId: 12, data: { amount: '0', protocolData: [] } }],
  ['transfer-small', { type: btp.TYPE_TRANSFER, requestId: 13, data: { amount: '1000', protocolData: [pd('claim', JSON_, utf8('{"amount":"1000"}'))] } }],
  ['transfer-max', { type: btp.TYPE_TRANSFER, requestId: 14, data: { amount: '18446744073709551615', protocolData: [] } }],
  ['transfer-large', { type: btp.TYPE_TRANSFER, requestId: 15, data: { amount: '9007199254740993', protocolData: [pd('ilp', OCTET, hex('01'))] } }],
  ['error-not-accepted', { type: btp.TYPE_ERROR, requestId: 16, data: { code: 'F00', name: 'NotAcceptedError', triggeredAt: '2017-08-28T18:32:00.000Z', data: 'invalid auth token', protocolData: [] } }],
  ['error-invalid-fields', { type: btp.TYPE_ERROR, requestId: 17, data: { code: 'F01', name: 'InvalidFieldsError', triggeredAt: '2024-02-29T23:59:59.999Z', data: '', protocolData: [] } }],
  ['error-unreachable-with-pd', { type: btp.TYPE_ERROR, requestId: 18, data: { code: 'T00', name: 'UnreachableError', triggeredAt: '2000-01-01T00:00:00.001Z', data: 'h\u00e9llo \u2603', protocolData: [pd('ilp', OCTET, hex('0e0102')), pd('note', TEXT, utf8('x'))] } }],
  ['error-long-data', { type: btp.TYPE_ERROR, requestId: 19, data: { code: 'F08', name: 'InsufficientBalanceError', triggeredAt: '2019-06-01T12:00:00.000Z', data: 'y'.repeat(300), protocolData: [] } }]
]

const out = cases.map(([name, packet]) => {
  const bytes = btp.serialize(packet)
  const decoded = btp.deserialize(bytes) // sanity: the reference reads its own output
  if (decoded.type !== packet.type || decoded.requestId !== packet.requestId) throw new Error('mismatch ' + name)
  const v = {
    name,
    hex: bytes.toString('hex'),
    type: packet.type,
    requestId: packet.requestId,
    protocolData: packet.data.protocolData.map((p) => ({ name: p.protocolName, contentType: p.contentType, hex: p.data.toString('hex') }))
  }
  if (packet.type === btp.TYPE_TRANSFER) v.amount = packet.data.amount
  if (packet.type === btp.TYPE_ERROR) {
    v.error = { code: packet.data.code, name: packet.data.name, triggeredAt: wireTime(packet.data.triggeredAt), dataHex: Buffer.from(packet.data.data, 'utf8').toString('hex') }
  }
  return v
})

process.stdout.write(JSON.stringify({ generator: 'btp-packet@2.2.1', vectors: out }, null, 2) + '\n')
