#!/usr/bin/env node
// Settles by BTP TRANSFER with ilp-plugin-btp@1.5.0 (issue 13, defect 1). That release's own sendMoney() is a
// no-op and its _handleMoney() refuses every TRANSFER; plugins built on it (as ilp-connector expects) override both.
// TransferPlugin does exactly that and nothing else: sendMoney(amount) sends a TRANSFER (RFC 23) and waits for the
// RESPONSE; an incoming TRANSFER is recorded and answered RESPONSE.
//
// Commands on stdin, one per line:  pay <amount> [requestId]   (a requestId given twice is a resend of the same request)
//                                   quit
// Events on stdout (JSON lines): listening {port} | connected | paid {amount, requestId}
//   | pay-error {amount, requestId, code, message} | transfer-received {amount, requestId} | disconnected
//   | received (an ILP Prepare, see peer-lib attachReceiver)
'use strict'

const crypto = require('crypto')
const readline = require('readline')
const BtpPacket = require('btp-packet')
const lib = require('./peer-lib')

const USAGE = `usage: node btp-transfer-peer.js --url btp+ws://<user>:<token>@127.0.0.1:<port> [--timeout-ms N] [--verbose]
   or: node btp-transfer-peer.js --port 0 --secret S   (listen on 127.0.0.1; the connector dials in)
  [--address test.x]   our ILP address (default test.transfer)
stdin: "pay <amount> [requestId]" lines, "quit". stdout: one JSON event per line.
`

function transferPluginOf (plugin) {
  plugin.sendMoney = async function (amount, requestId) {
    const id = requestId === undefined ? crypto.randomBytes(4).readUInt32BE(0) : requestId
    await this._call('', { type: BtpPacket.TYPE_TRANSFER, requestId: id, data: { amount: String(amount), protocolData: [] } })
    return id
  }
  plugin._handleMoney = async function (from, btpPacket) {
    lib.emit({ event: 'transfer-received', amount: String(btpPacket.data.amount), requestId: btpPacket.requestId })
    return []
  }
  return plugin
}

async function main () {
  const values = lib.parseCli({ url: { type: 'string' }, secret: { type: 'string' }, port: { type: 'string' } }, USAGE)
  const host = values.url ? (() => { try { return new URL(values.url.replace(/^btp\+/, '')).hostname } catch (e) { return '' } })() : '127.0.0.1'
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    process.stderr.write(`refusing to connect to non-loopback host "${host}"\n`)
    process.exit(lib.EXIT.ERROR)
  }
  let plugin
  const ctl = lib.processControl({
    timeoutMs: values['timeout-ms'],
    ignoreStdin: true,
    cleanup: async () => { if (plugin) await plugin.disconnect() }
  })
  const log = lib.makeLogger('btp-transfer', values.verbose)
  if (values.url) {
    plugin = transferPluginOf(lib.createClientPlugin({ url: values.url, log }))
  } else {
    plugin = transferPluginOf(lib.createServerPlugin({ port: values.port || 0, secret: values.secret, log }))
  }
  // ILP packets: fulfilled when the data is the preimage (so the connector comes to owe us and settles), as the other peers do.
  lib.attachReceiver(plugin, { address: () => values.address || 'test.transfer' }, lib.emit)
  plugin.on('connect', () => lib.emit({ event: 'connected' }))
  plugin.on('disconnect', () => lib.emit({ event: 'disconnected' }))
  if (values.url) {
    await plugin.connect()
  } else {
    const port = await lib.startServer(plugin).listening
    lib.emit({ event: 'listening', port })
  }

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, amount, requestId] = line.trim().split(/\s+/)
    if (cmd === 'quit') break
    if (cmd !== 'pay') continue
    const id = requestId === undefined ? undefined : Number(requestId)
    try {
      const sent = await plugin.sendMoney(amount, id)
      lib.emit({ event: 'paid', amount, requestId: sent })
    } catch (e) {
      let code = null
      try { code = JSON.parse(e.message).code } catch (_) {}
      lib.emit({ event: 'pay-error', amount, requestId: id === undefined ? null : id, code, message: e.message })
    }
  }
  ctl.exit(lib.EXIT.OK, 'done')
}

main().catch(lib.fatal)
