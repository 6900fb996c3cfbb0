#!/usr/bin/env node
// BTP server interop peer built on ilp-plugin-btp@1.5.0 (listener mode). See README.md for the event protocol.
'use strict'

const lib = require('./peer-lib')

const USAGE = `usage: node btp-server-peer.js --port P --secret S
  [--host 127.0.0.1]                bind address; only loopback addresses are accepted
  [--mode receive|send|both]        default receive
  [--destination g.x.y] [--count N] [--amount A] [--concurrency C] [--expiry-ms 30000]   (send/both)
  [--address test.x]                own ILP address used as triggeredBy (default test.interop.server)
  [--ildcp-client-address addr [--asset-code XRP] [--asset-scale 9]]   answer ILDCP peer.config requests
  [--reject-code F99 [--reject-message m]] [--fulfill-delay-ms N]      (receive/both)
  [--wait-for-go] [--linger-ms N] [--response-timeout-ms N]
  [--timeout-ms 30000]              hard cap; exit code 2 when hit
  [--ignore-stdin] [--verbose]
--port 0 picks a free port; the real one is in the "listening" event.
stdout: one JSON event per line. exit codes: 0 ok, 1 error, 2 timeout, 3 stdin closed mid-send, 4 listen failed
`

async function main () {
  const values = lib.parseCli({
    port: { type: 'string' },
    secret: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'ildcp-client-address': { type: 'string' },
    'asset-code': { type: 'string', default: 'XRP' },
    'asset-scale': { type: 'string', default: '9' }
  }, USAGE)
  if (values.port === undefined || values.secret === undefined) {
    process.stderr.write('--port and --secret are required\n' + USAGE)
    process.exit(lib.EXIT.ERROR)
  }
  values.mode = values.mode || 'receive'
  if (!['send', 'receive', 'both'].includes(values.mode)) {
    process.stderr.write('--mode must be receive|send|both\n' + USAGE)
    process.exit(lib.EXIT.ERROR)
  }
  if (!['127.0.0.1', 'localhost', '::1'].includes(values.host)) {
    process.stderr.write(`refusing to bind non-loopback host "${values.host}"\n`)
    process.exit(lib.EXIT.ERROR)
  }

  let plugin
  const ctl = lib.processControl({
    timeoutMs: values['timeout-ms'],
    ignoreStdin: values['ignore-stdin'],
    cleanup: async () => { if (plugin) await plugin.disconnect() }
  })
  const log = lib.makeLogger('btp-server', values.verbose)
  const address = values.address || 'test.interop.server'
  const ildcpInfo = values['ildcp-client-address']
    ? { clientAddress: values['ildcp-client-address'], assetCode: values['asset-code'], assetScale: values['asset-scale'] }
    : undefined

  plugin = lib.createServerPlugin({ port: values.port, secret: values.secret, host: values.host, responseTimeoutMs: values['response-timeout-ms'], log })
  plugin.on('disconnect', () => lib.emit({ event: 'disconnected' }))
  plugin.on('connect', () => lib.emit(Object.assign({ event: 'connected' }, plugin.lastAuth || {})))
  plugin.on('auth_failed', (info) => lib.emit(Object.assign({ event: 'auth-failed' }, info)))

  // Receiver (and ILDCP responder) must be registered before a client can send anything.
  // In send mode a handler is still registered (rejecting everything with F06, but answering ILDCP if configured):
  // without one ilp-plugin-btp answers incoming MESSAGEs with a BTP ERROR instead of an ILP reject.
  lib.attachReceiverFromCli(plugin, values.mode === 'send' ? Object.assign({}, values, { 'reject-code': 'F06', 'reject-message': 'interop server is in send-only mode' }) : values, () => address, ildcpInfo)

  const { listening, connected } = lib.startServer(plugin)
  let port
  try {
    port = await listening
  } catch (e) {
    lib.emit({ event: 'listen-error', message: e.message, code: e.code })
    return ctl.exit(lib.EXIT.CONNECT_FAILED, 'listen-failed')
  }
  lib.emit({ event: 'listening', port, host: values.host })
  await connected // first client authenticated ("connected" event printed by the 'connect' listener)

  if (values.mode !== 'receive') await lib.runSendFromCli(plugin, values, ctl)
  // mode receive: stay until stdin EOF / "quit" / --timeout-ms
}

main().catch(lib.fatal)
