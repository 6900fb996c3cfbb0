#!/usr/bin/env node
// STREAM server interop peer (issue 17): connects to our connector as a BTP child (ilp-plugin-btp), learns its address
// by ILDCP, runs an ilp-protocol-stream server and an SPSP endpoint (http://127.0.0.1:<port>/) for it.
// --hostile: no STREAM server; every Prepare is rejected with --reject-code (default F99) and SPSP hands out a random secret.
// stdout: {"event":"listening","spspPort":N,"address":"..."}, {"event":"money","amount":"…","total":"…"} per packet. Exit on stdin EOF.
'use strict'

require('./stream-node-compat')
const crypto = require('crypto')
const http = require('http')
const { parseArgs } = require('util')
const IlpPacket = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')
const { createServer } = require('ilp-protocol-stream')
const lib = require('./peer-lib')

async function main () {
  const { values: v } = parseArgs({
    options: {
      url: { type: 'string' },
      hostile: { type: 'boolean', default: false },
      'reject-code': { type: 'string', default: 'F99' },
      'timeout-ms': { type: 'string', default: '60000' },
      verbose: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (!v.url || new URL(v.url.replace(/^btp\+/, '')).hostname !== '127.0.0.1') throw new Error('--url btp+ws://user:token@127.0.0.1:port is required')
  setTimeout(() => { lib.emit({ event: 'exit', code: 2, reason: 'timeout' }); process.exit(2) }, Number(v['timeout-ms']))
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()

  const plugin = lib.createClientPlugin({ url: v.url, log: lib.makeLogger('stream-server', v.verbose) })
  let spsp
  let total = 0n
  if (v.hostile) {
    await plugin.connect()
    const { clientAddress } = await Ildcp.fetch(plugin.sendData.bind(plugin))
    plugin.registerDataHandler(async (data) => {
      lib.emit({ event: 'rejected', code: v['reject-code'] })
      return IlpPacket.serializeIlpReject({ code: v['reject-code'], message: 'hostile receiver rejects everything', triggeredBy: clientAddress, data: Buffer.alloc(0) })
    })
    spsp = () => ({ destination_account: clientAddress + '.' + crypto.randomBytes(8).toString('hex'), shared_secret: crypto.randomBytes(32).toString('base64') })
    lib.emit({ event: 'address', address: clientAddress })
  } else {
    const server = await createServer({ plugin })
    server.on('connection', (conn) => {
      conn.on('stream', (stream) => {
        stream.setReceiveMax('18446744073709551615')
        stream.on('money', (amount) => {
          total += BigInt(amount)
          lib.emit({ event: 'money', amount: String(amount), total: String(total) })
        })
      })
    })
    spsp = () => {
      const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
      return { destination_account: destinationAccount, shared_secret: sharedSecret.toString('base64') }
    }
    lib.emit({ event: 'address', address: server.serverAccount })
  }
  const web = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'application/spsp4+json')
    res.end(JSON.stringify(spsp()))
  })
  web.listen(0, '127.0.0.1', () => lib.emit({ event: 'listening', spspPort: web.address().port }))
}

main().catch(lib.fatal)
