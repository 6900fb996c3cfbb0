#!/usr/bin/env node
// BTP client interop peer built on ilp-plugin-btp@1.5.0. See README.md for the event protocol.
'use strict'

const Ildcp = require('ilp-protocol-ildcp')
const lib = require('./peer-lib')

const USAGE = `usage: node btp-client-peer.js --url btp+ws://<user>:<token>@127.0.0.1:<port>[/path]
  [--mode send|receive|both]        default send
  [--destination g.x.y]             send: ILP destination (default test.interop.receiver)
  [--count N] [--amount A] [--concurrency C] [--expiry-ms 30000]
  [--ildcp]                         fetch ILDCP (peer.config) after connecting; its clientAddress becomes our address
  [--address test.x]                own ILP address used as triggeredBy in our rejects (default test.interop.client)
  [--reject-code F99 [--reject-message m]]  receive: reject everything with this code
  [--fulfill-delay-ms N]            receive: wait before answering
  [--wait-for-go]                   send: start sending only after the line "go" arrives on stdin
  [--linger-ms N]                   both: exit 0 this long after the send run finished (default: wait for stdin EOF)
  [--response-timeout-ms N]         ilp-plugin-btp per-request timeout (plugin default 35000)
  [--timeout-ms 30000]              hard cap; exit code 2 when hit
  [--ignore-stdin] [--verbose]
stdout: one JSON event per line. exit codes: 0 ok, 1 error, 2 timeout, 3 stdin closed mid-send, 4 connect/auth failed, 5 ildcp failed
`

async function main () {
  const values = lib.parseCli({ url: { type: 'string' }, ildcp: { type: 'boolean', default: false } }, USAGE)
  if (!values.url) {
    process.stderr.write('--url is required\n' + USAGE)
    process.exit(lib.EXIT.ERROR)
  }
  values.mode = values.mode || 'send'
  if (!['send', 'receive', 'both'].includes(values.mode)) {
    process.stderr.write('--mode must be send|receive|both\n' + USAGE)
    process.exit(lib.EXIT.ERROR)
  }
  const host = (() => { try { return new URL(values.url.replace(/^btp\+/, '')).hostname } catch (e) { return '' } })()
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    process.stderr.write(`refusing to connect to non-loopback host "${host}"\n`)
    process.exit(lib.EXIT.ERROR)
  }

  let plugin
  const ctl = lib.processControl({
    timeoutMs: values['timeout-ms'],
    ignoreStdin: values['ignore-stdin'],
    cleanup: async () => { if (plugin) await plugin.disconnect() }
  })
  const log = lib.makeLogger('btp-client', values.verbose, (line) => {
    // ilp-plugin-btp only logs (and then retries forever) when the server answers the auth MESSAGE with a BTP ERROR
    if (line.includes('error authenticating btp connection')) {
      ctl.exit(lib.EXIT.CONNECT_FAILED, 'auth-failed', { message: line })
    }
  })

  let address = values.address || 'test.interop.client'
  plugin = lib.createClientPlugin({ url: values.url, responseTimeoutMs: values['response-timeout-ms'], log })
  plugin.on('disconnect', () => lib.emit({ event: 'disconnected' }))
  // 'connect' fires after the first successful auth and again after every automatic reconnect
  plugin.on('connect', () => lib.emit({ event: 'connected' }))

  // Register the receiver before connecting so packets that arrive right after auth are not refused.
  // In send mode a handler is still registered (rejecting everything with F06): without one ilp-plugin-btp answers
  // incoming MESSAGEs with a BTP ERROR ("no request handler registered") instead of an ILP reject.
  lib.attachReceiverFromCli(plugin, values.mode === 'send' ? Object.assign({}, values, { 'reject-code': 'F06', 'reject-message': 'interop client is in send-only mode' }) : values, () => address)
  await plugin.connect()

  if (values.ildcp) {
    try {
      const info = await Ildcp.fetch(plugin.sendData.bind(plugin))
      address = info.clientAddress
      lib.emit({ event: 'ildcp', clientAddress: info.clientAddress, assetCode: info.assetCode, assetScale: info.assetScale })
    } catch (e) {
      lib.emit({ event: 'ildcp-error', message: e.message })
      return ctl.exit(lib.EXIT.ILDCP_FAILED, 'ildcp-failed')
    }
  }
  if (values.mode !== 'receive') await lib.runSendFromCli(plugin, values, ctl)
  // mode receive: stay until stdin EOF / "quit" / --timeout-ms
}

main().catch(lib.fatal)
