// One node of a mixed test network: the JavaScript ilp-connector 23 with BTP accounts, plus an optional
// STREAM endpoint (ilp-protocol-stream 2.7) attached to it as a child over BTP. Driven by the C# tests:
// one JSON event per line on stdout, one JSON command per line on stdin; EOF on stdin shuts it down.
//
// Usage: node js-connector-node.js '<config json>'
//   config: { ilpAddress?: string (omit: learned from a parent by ILDCP), routeBroadcastInterval?, routeExpiry?,
//             accounts: { id: { relation, assetCode, assetScale, sendRoutes?, receiveRoutes?,
//                               listen?: {port, secret} | connect?: "btp+ws://user:secret@127.0.0.1:port" } },
//             stream?: { port, payerPort, assetCode, assetScale },   // children "stream" (STREAM server) and "payer" (sender)
//             pinger?: { port } }   // child "pinger": sends echo requests (ilp-connector's echo protocol) and fulfills the echo responses
// Commands: {"cmd":"info"} → {event:"info", address, routes, balances}
//           {"cmd":"pay", "id", "destination", "sharedSecret", "amount"} → {event:"paid", id, sent, delivered} | {event:"pay-error"}
//           {"cmd":"receiver"} → {event:"receiver", destination, sharedSecret}
//           {"cmd":"ping", "id", "destination", "amount"} → {event:"pinged", id, fulfilled, code?, message?, echoes}
// Events: ready {address}, money {amount} (each amount the STREAM server received), error {message}
'use strict'
const crypto = require('crypto')
const readline = require('readline')
const reduct = require('reduct').default
const { createApp } = require('ilp-connector')
const RouteBroadcaster = require('ilp-connector/dist/services/route-broadcaster').default
const AdminApi = require('ilp-connector/dist/services/admin-api').default
const Accounts = require('ilp-connector/dist/services/accounts').default
const BtpPlugin = require('ilp-plugin-btp')
const Stream = require('ilp-protocol-stream')
const IlpPacket = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')

// ilp-protocol-stream 2.7.1 assigns this.closed on its Duplex, which Node >= 18 defines as a getter only:
// give its stream class a plain property again (behaviour as on the Node versions it was written for).
Object.defineProperty(Stream.DataAndMoneyStream.prototype, 'closed', {
  configurable: true,
  get () { return this._streamClosed === true },
  set (value) { this._streamClosed = value },
})

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const config = JSON.parse(process.argv[2] || '{}')
const hostOnly = (url) => { const u = new URL(url.replace(/^btp\+/, '')); if (u.hostname !== '127.0.0.1') throw new Error('127.0.0.1 only: ' + url) }

async function main () {
  const accounts = {}
  for (const [id, a] of Object.entries(config.accounts || {})) {
    const options = a.listen ? { listener: { port: a.listen.port, secret: a.listen.secret } } : { server: a.connect }
    if (a.connect) hostOnly(a.connect)
    accounts[id] = {
      relation: a.relation,
      assetCode: a.assetCode || 'USD',
      assetScale: a.assetScale === undefined ? 9 : a.assetScale,
      plugin: 'ilp-plugin-btp',
      options,
      balance: { minimum: '-1000000000000', maximum: '1000000000000' },
      ...(a.sendRoutes === undefined ? {} : { sendRoutes: a.sendRoutes }),
      ...(a.receiveRoutes === undefined ? {} : { receiveRoutes: a.receiveRoutes }),
    }
  }
  // Two children: "stream" runs the STREAM server, "payer" sends (one plugin cannot serve both roles).
  const streamSecret = crypto.randomBytes(16).toString('hex')
  const endpoint = (port) => ({
    relation: 'child', assetCode: config.stream.assetCode || 'USD', assetScale: config.stream.assetScale === undefined ? 9 : config.stream.assetScale,
    plugin: 'ilp-plugin-btp', options: { listener: { port, secret: streamSecret } },
    balance: { minimum: '-1000000000000', maximum: '1000000000000' },
  })
  if (config.stream) {
    accounts.stream = endpoint(config.stream.port)
    accounts.payer = endpoint(config.stream.payerPort)
  }
  if (config.pinger) {
    accounts.pinger = {
      relation: 'child', assetCode: 'USD', assetScale: 9, plugin: 'ilp-plugin-btp',
      options: { listener: { port: config.pinger.port, secret: streamSecret } },
      balance: { minimum: '-1000000000000', maximum: '1000000000000' },
    }
  }
  const deps = reduct()
  const app = createApp({
    env: 'test',
    ...(config.ilpAddress ? { ilpAddress: config.ilpAddress } : {}),
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    disableMiddleware: ['rateLimit'],
    routeBroadcastInterval: config.routeBroadcastInterval || 1000,
    routeExpiry: config.routeExpiry || 5000,
    routeCleanupInterval: 1000,
    accounts,
  }, deps)
  await app.listen()
  const address = deps(Accounts).getOwnAddress()

  let streamServer
  let plugin
  let payer
  if (config.stream) {
    plugin = new BtpPlugin({ server: `btp+ws://:${streamSecret}@127.0.0.1:${config.stream.port}` })
    await plugin.connect()
    payer = new BtpPlugin({ server: `btp+ws://:${streamSecret}@127.0.0.1:${config.stream.payerPort}` })
    await payer.connect()
    streamServer = await Stream.createServer({ plugin })
    streamServer.on('connection', (conn) => {
      conn.on('stream', (stream) => {
        stream.setReceiveMax('10000000000000')
        stream.on('money', (amount) => out({ event: 'money', amount: String(amount) }))
      })
    })
  }
  // The pinger: an echo request is "ECHOECHOECHOECHO", 0x00 and our address (OER var-octet string); the
  // echo response comes back to our address with "ECHOECHOECHOECHO" 0x01, and we fulfill it.
  const ECHO = Buffer.from('ECHOECHOECHOECHO', 'ascii')
  let pinger
  let pingerAddress
  const pings = new Map() // condition (base64) → fulfillment
  let echoes = 0
  if (config.pinger) {
    pinger = new BtpPlugin({ server: `btp+ws://:${streamSecret}@127.0.0.1:${config.pinger.port}` })
    pinger.registerDataHandler(async (data) => {
      const p = IlpPacket.deserializeIlpPrepare(data)
      const fulfillment = pings.get(p.executionCondition.toString('base64'))
      const isResponse = p.data.length === 17 && p.data.slice(0, 16).equals(ECHO) && p.data[16] === 1
      if (!fulfillment || !isResponse || p.destination !== pingerAddress) {
        return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: pingerAddress, message: 'not an echo response for us', data: Buffer.alloc(0) })
      }
      echoes++
      return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.alloc(0) })
    })
    await pinger.connect()
    pingerAddress = (await Ildcp.fetch((data) => pinger.sendData(data))).clientAddress
  }
  out({ event: 'ready', address })

  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', async (line) => {
    let cmd
    try { cmd = JSON.parse(line) } catch (e) { out({ event: 'error', message: 'bad command: ' + line }); return }
    try {
      if (cmd.cmd === 'info') {
        const routing = deps(RouteBroadcaster).getStatus()
        out({ event: 'info', address: deps(Accounts).getOwnAddress(), routes: routing.localRoutingTable, balances: await deps(AdminApi).getBalanceStatus() })
      } else if (cmd.cmd === 'receiver') {
        const { destinationAccount, sharedSecret } = streamServer.generateAddressAndSecret()
        out({ event: 'receiver', destination: destinationAccount, sharedSecret: sharedSecret.toString('base64') })
      } else if (cmd.cmd === 'pay') {
        const conn = await Stream.createConnection({ plugin: payer, destinationAccount: cmd.destination, sharedSecret: Buffer.from(cmd.sharedSecret, 'base64'), slippage: 0 })
        const stream = conn.createStream()
        await stream.sendTotal(cmd.amount, { timeout: 20000 })
        out({ event: 'paid', id: cmd.id, sent: conn.totalSent, delivered: conn.totalDelivered })
        await conn.end()
      } else if (cmd.cmd === 'ping') {
        const fulfillment = crypto.randomBytes(32)
        const executionCondition = crypto.createHash('sha256').update(fulfillment).digest()
        pings.set(executionCondition.toString('base64'), fulfillment)
        const source = Buffer.from(pingerAddress, 'ascii')
        const data = Buffer.concat([ECHO, Buffer.from([0, source.length]), source])
        const reply = await pinger.sendData(IlpPacket.serializeIlpPrepare({
          amount: String(cmd.amount || '0'), destination: cmd.destination, executionCondition,
          expiresAt: new Date(Date.now() + 10000), data,
        }))
        if (reply[0] === IlpPacket.Type.TYPE_ILP_FULFILL) {
          const f = IlpPacket.deserializeIlpFulfill(reply)
          out({ event: 'pinged', id: cmd.id, fulfilled: f.fulfillment.equals(fulfillment), echoes })
        } else {
          const r = IlpPacket.deserializeIlpReject(reply)
          out({ event: 'pinged', id: cmd.id, fulfilled: false, code: r.code, message: r.message, triggeredBy: r.triggeredBy, echoes })
        }
      } else {
        out({ event: 'error', message: 'unknown command ' + cmd.cmd })
      }
    } catch (e) {
      out({ event: cmd.cmd + '-error', id: cmd.id, message: e && e.message ? e.message : String(e) })
    }
  })
  rl.on('close', async () => {
    try { if (plugin) await plugin.disconnect() } catch (e) {}
    try { if (payer) await payer.disconnect() } catch (e) {}
    try { if (pinger) await pinger.disconnect() } catch (e) {}
    try { await app.shutdown() } catch (e) {}
    process.exit(0)
  })
}

main().catch(e => {
  out({ event: 'error', message: e && e.stack ? e.stack : String(e) })
  process.exit(1)
})
