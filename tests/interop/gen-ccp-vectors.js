// Writes tests/M2M.Core.Tests/Fixtures/ccp-vectors.json: CCP route control and route update payloads
// serialized by npm ilp-protocol-ccp 1.2.3 (the encoder ilp-connector 23 uses), with their fields.
// Deterministic: fixed UUIDs, auths and strings. Usage: node gen-ccp-vectors.js
'use strict'
const fs = require('fs')
const path = require('path')
const ccp = require('ilp-protocol-ccp')

const auth = (b) => Buffer.alloc(32, b)
const controls = [
  { name: 'sync-zero', mode: 1, lastKnownRoutingTableId: '00000000-0000-0000-0000-000000000000', lastKnownEpoch: 0, features: [] },
  { name: 'idle-epoch', mode: 0, lastKnownRoutingTableId: '3b069822-a754-4e44-8a60-0f9f7084144d', lastKnownEpoch: 52, features: [] },
  { name: 'sync-features', mode: 1, lastKnownRoutingTableId: 'ffffffff-0000-1111-2222-333344445555', lastKnownEpoch: 4294967295, features: ['foo', 'bär'] },
]
const updates = [
  {
    name: 'heartbeat', routingTableId: '21e55f8e-abcd-4e97-9ab9-bf0fc00a9564', currentEpochIndex: 52, fromEpochIndex: 52,
    toEpochIndex: 52, holdDownTime: 45000, speaker: 'test.alice', newRoutes: [], withdrawnRoutes: [],
  },
  {
    name: 'two-routes-one-withdrawn', routingTableId: 'bffbf6ad-0ddc-4d3b-a1e5-b4f0537365bd', currentEpochIndex: 7, fromEpochIndex: 0,
    toEpochIndex: 7, holdDownTime: 45000, speaker: 'test.js1',
    newRoutes: [
      { prefix: 'test.js1', path: ['test.js1'], auth: auth(1), props: [] },
      { prefix: 'test.js1.child', path: ['test.js1', 'test.js1.child'], auth: auth(2), props: [] },
    ],
    withdrawnRoutes: ['test.gone'],
  },
  {
    name: 'route-with-props', routingTableId: '00000000-0000-0000-0000-000000000001', currentEpochIndex: 3, fromEpochIndex: 1,
    toEpochIndex: 3, holdDownTime: 1000, speaker: 'g.speaker',
    newRoutes: [{
      prefix: 'g.x', path: [], auth: auth(0xab),
      props: [
        { isOptional: false, isTransitive: true, isPartial: false, isUtf8: true, id: 1, value: 'hello' },
        { isOptional: true, isTransitive: true, isPartial: true, isUtf8: false, id: 65535, value: Buffer.from([1, 2, 3]) },
        { isOptional: true, isTransitive: false, isPartial: false, isUtf8: false, id: 7, value: Buffer.alloc(0) },
      ],
    }],
    withdrawnRoutes: [],
  },
  {
    name: 'many-routes', routingTableId: '12345678-9abc-def0-1234-56789abcdef0', currentEpochIndex: 200, fromEpochIndex: 150,
    toEpochIndex: 200, holdDownTime: 30000, speaker: 'g.big',
    newRoutes: Array.from({ length: 130 }, (_, i) => ({ prefix: `g.big.n${i}`, path: ['g.big', `g.big.n${i}`], auth: auth(i), props: [] })),
    withdrawnRoutes: Array.from({ length: 3 }, (_, i) => `g.old${i}`),
  },
]

const out = {
  generator: 'ilp-protocol-ccp ' + require('ilp-protocol-ccp/package.json').version,
  controls: controls.map(c => ({ ...c, hex: ccp.serializeCcpRouteControlRequestPayload(c).toString('hex') })),
  updates: updates.map(u => ({
    ...u,
    newRoutes: u.newRoutes.map(r => ({
      ...r,
      auth: r.auth.toString('hex'),
      props: r.props.map(p => ({ ...p, value: p.isUtf8 ? Buffer.from(p.value, 'utf8').toString('hex') : p.value.toString('hex') })),
    })),
    hex: ccp.serializeCcpRouteUpdateRequestPayload(u).toString('hex'),
  })),
}
// Round trip through the package's own decoder, so a vector the package cannot read is never written.
for (const c of out.controls) ccp.deserializeCcpRouteControlRequestPayload(Buffer.from(c.hex, 'hex'))
for (const u of out.updates) ccp.deserializeCcpRouteUpdateRequestPayload(Buffer.from(u.hex, 'hex'))
const file = path.join(__dirname, '..', 'M2M.Core.Tests', 'Fixtures', 'ccp-vectors.json')
fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n')
console.log(`wrote ${out.controls.length} controls and ${out.updates.length} updates to ${file}`)
