// The JavaScript reference connector (npm ilp-connector) in the topology bench/compare.sh uses:
// two BTP peers, each an ilp-plugin-btp *server* (the load generator connects to both), zero fees
// (backend one-to-one, spread 0), in-memory store: it persists nothing, not even balances.
// Usage: node start.js SENDER_PORT RECEIVER_PORT
'use strict'
const { createApp } = require('ilp-connector')

const [senderPort, receiverPort] = process.argv.slice(2).map(Number)
if (!senderPort || !receiverPort) {
  console.error('usage: node start.js SENDER_PORT RECEIVER_PORT')
  process.exit(1)
}

const account = (port, secret) => ({
  relation: 'peer',
  assetCode: 'USD',
  assetScale: 9,
  plugin: 'ilp-plugin-btp',
  // No CCP with the load generator: it is an endpoint, not a connector.
  sendRoutes: false,
  receiveRoutes: false,
  options: { listener: { port, secret } },
})

const connector = createApp({
  env: 'test',
  ilpAddress: 'g.jsconn',
  backend: 'one-to-one',
  spread: 0,
  store: 'memory',
  // Its default per-account rate limit (token bucket) answers T05 under load; we compare
  // forwarding, so it is off (our connector has no default rate limit either).
  disableMiddleware: ['rateLimit'],
  // Route broadcasting must stay on: it is also what loads the configured routes (sendRoutes and
  // receiveRoutes are off per account, so no CCP traffic reaches the load generator).
  accounts: {
    alice: account(senderPort, 'alice-secret'),
    bob: account(receiverPort, 'bob-secret'),
  },
  routes: [{ targetPrefix: 'g.bob', peerId: 'bob' }],
})

connector.listen()
  .then(() => console.log(`ilp-connector ready: alice on ${senderPort}, bob on ${receiverPort}`))
  .catch(err => {
    console.error(err && err.stack ? err.stack : err)
    process.exit(1)
  })

process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
