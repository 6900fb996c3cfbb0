// Shared logic for btp-client-peer.js, btp-server-peer.js and selftest.js.
// Protocol: every machine-readable event is ONE JSON object per line on stdout; human logs go to stderr only.
'use strict'

const crypto = require('crypto')
const { parseArgs } = require('util')
const BtpPlugin = require('ilp-plugin-btp')
const IlpPacket = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')

const sha256 = (b) => crypto.createHash('sha256').update(b).digest()

// ---------------------------------------------------------------------------------------------
// CLI / process plumbing
// ---------------------------------------------------------------------------------------------
const EXIT = {
  OK: 0,
  ERROR: 1, // usage error or unexpected exception
  TIMEOUT: 2, // --timeout-ms elapsed
  STDIN_CLOSED_EARLY: 3, // stdin closed while a send run was still in progress
  CONNECT_FAILED: 4, // BTP auth rejected / listen failed
  ILDCP_FAILED: 5 // --ildcp fetch failed
}

const SEND_OPTIONS = {
  mode: { type: 'string' },
  destination: { type: 'string', default: 'test.interop.receiver' },
  count: { type: 'string', default: '1' },
  amount: { type: 'string', default: '1' },
  concurrency: { type: 'string', default: '1' },
  'expiry-ms': { type: 'string', default: '30000' },
  'timeout-ms': { type: 'string', default: '30000' },
  'wait-for-go': { type: 'boolean', default: false },
  'linger-ms': { type: 'string' },
  address: { type: 'string' },
  'reject-code': { type: 'string' },
  'reject-message': { type: 'string' },
  'fulfill-delay-ms': { type: 'string', default: '0' },
  'response-timeout-ms': { type: 'string' },
  'ignore-stdin': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
  help: { type: 'boolean', short: 'h', default: false }
}

function parseCli (extraOptions, usage) {
  let values
  try {
    ({ values } = parseArgs({ options: Object.assign({}, SEND_OPTIONS, extraOptions), strict: true, allowPositionals: false }))
  } catch (e) {
    process.stderr.write(e.message + '\n' + usage)
    process.exit(EXIT.ERROR)
  }
  if (values.help) {
    process.stderr.write(usage)
    process.exit(EXIT.OK)
  }
  const int = (name, min) => {
    const v = values[name]
    if (v === undefined) return undefined
    if (!/^\d+$/.test(v) || Number(v) < min) {
      process.stderr.write(`--${name} must be an integer >= ${min}, got ${v}\n` + usage)
      process.exit(EXIT.ERROR)
    }
    return Number(v)
  }
  for (const k of ['count', 'concurrency', 'expiry-ms', 'timeout-ms', 'linger-ms', 'fulfill-delay-ms', 'response-timeout-ms', 'port', 'asset-scale']) {
    if (k in values) values[k] = int(k, k === 'concurrency' || k === 'timeout-ms' ? 1 : 0)
  }
  if (!/^\d+$/.test(values.amount)) {
    process.stderr.write(`--amount must be a non-negative integer string, got ${values.amount}\n`)
    process.exit(EXIT.ERROR)
  }
  if (values['reject-code'] !== undefined && Buffer.byteLength(values['reject-code'], 'ascii') !== 3) {
    process.stderr.write('--reject-code must be 3 characters, e.g. F99\n')
    process.exit(EXIT.ERROR)
  }
  return values
}

/** Write one event line to stdout. Writes to pipes/files are synchronous on Linux, so process.exit() right after is safe. */
function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function makeLogger (prefix, verbose, onError) {
  const w = (level) => (...args) => {
    const line = args.map(a => (typeof a === 'string' ? a : (a instanceof Error ? a.stack : JSON.stringify(a)))).join(' ')
    if (level === 'error' && onError) onError(line)
    if (verbose || level === 'error' || level === 'warn') process.stderr.write(`[${prefix}] ${level}: ${line}\n`)
  }
  const log = { info: w('info'), warn: w('warn'), error: w('error'), debug: w('debug'), trace: w('trace') }
  log.debug.namespace = prefix
  return log
}

/**
 * Installs: the hard timeout, the stdin watcher (EOF => graceful exit; "go"/"quit" line commands), signal handlers.
 * Returns a controller { exit(code, reason), onGo(fn), setBusy(bool) }.
 */
let exiting = false // process-wide: once an exit started, later errors (e.g. from disconnect()) are ignored

/** For main().catch(): report a fatal error unless an orderly exit is already in progress. */
function fatal (e) {
  if (exiting) return
  exiting = true
  process.stderr.write(((e && e.stack) || String(e)) + '\n')
  emit({ event: 'exit', code: EXIT.ERROR, reason: 'error', message: String(e && e.message ? e.message : e) })
  process.exit(EXIT.ERROR)
}

function processControl ({ timeoutMs, ignoreStdin, cleanup }) {
  let busy = false // true while a send run is in progress
  const goHandlers = []
  let goReceived = false

  const exit = async (code, reason, extra) => {
    if (exiting) return
    exiting = true
    try {
      await Promise.race([cleanup ? cleanup() : Promise.resolve(), new Promise(resolve => setTimeout(resolve, 500))])
    } catch (e) { /* ignore */ }
    emit(Object.assign({ event: 'exit', code, reason }, extra || {})) // always the last line
    process.exit(code)
  }

  const timer = setTimeout(() => exit(EXIT.TIMEOUT, 'timeout', { timeoutMs }), timeoutMs)
  // deliberately NOT unref'd: the timer alone keeps a receive-only peer alive until the cap
  void timer

  if (!ignoreStdin) {
    let buf = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (chunk) => {
      buf += chunk
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim()
        buf = buf.slice(i + 1)
        if (line === 'go') {
          goReceived = true
          goHandlers.splice(0).forEach(fn => fn())
        } else if (line === 'quit') {
          exit(busy ? EXIT.STDIN_CLOSED_EARLY : EXIT.OK, 'quit')
        } else if (line) {
          process.stderr.write(`ignoring unknown stdin command: ${line}\n`)
        }
      }
    })
    const onEof = () => exit(busy ? EXIT.STDIN_CLOSED_EARLY : EXIT.OK, 'stdin-closed')
    process.stdin.on('end', onEof)
    process.stdin.on('close', onEof)
    process.stdin.on('error', onEof)
  }
  process.on('SIGTERM', () => exit(busy ? EXIT.STDIN_CLOSED_EARLY : EXIT.OK, 'sigterm'))
  process.on('SIGINT', () => exit(busy ? EXIT.STDIN_CLOSED_EARLY : EXIT.OK, 'sigint'))
  process.on('unhandledRejection', fatal)
  process.on('uncaughtException', fatal)

  return {
    exit,
    setBusy: (b) => { busy = b },
    onGo: (fn) => { if (goReceived) fn(); else goHandlers.push(fn) }
  }
}

// ---------------------------------------------------------------------------------------------
// Plugins
// ---------------------------------------------------------------------------------------------

/** Wraps ilp-plugin-btp so the server side can report the auth_username the client presented. */
class ObservableBtpPlugin extends BtpPlugin {
  _validateAuthPacket (authPacket) {
    const pd = (authPacket && authPacket.data && authPacket.data.protocolData) || []
    const user = pd.find(p => p.protocolName === 'auth_username')
    const info = {
      authUsername: user ? user.data.toString('utf8') : null,
      protocolNames: pd.map(p => p.protocolName),
      contentTypes: pd.map(p => p.contentType)
    }
    try {
      super._validateAuthPacket(authPacket) // throws on bad auth; the plugin then sends a BTP ERROR F00 and closes
    } catch (e) {
      this.emit('auth_failed', Object.assign({ message: e.message }, info))
      throw e
    }
    this.lastAuth = info
  }
}

function createClientPlugin ({ url, responseTimeoutMs, log }) {
  const opts = { server: url }
  if (responseTimeoutMs) opts.responseTimeout = responseTimeoutMs
  return new ObservableBtpPlugin(opts, { log })
}

function createServerPlugin ({ port, secret, host = '127.0.0.1', responseTimeoutMs, log }) {
  const opts = {
    listener: {
      port,
      secret,
      // ilp-plugin-btp passes listener.wsOpts verbatim to `new WebSocket.Server(wsOpts)` (ws@6). Without wsOpts it uses
      // { port } only, which binds ALL interfaces. Giving host pins it to loopback.
      wsOpts: { host, port }
    }
  }
  if (responseTimeoutMs) opts.responseTimeout = responseTimeoutMs
  return new ObservableBtpPlugin(opts, { log })
}

/** Starts a server plugin; resolves with the bound port once listening. `connected` resolves on first client auth. */
function startServer (plugin) {
  // plugin.connect() resolves after the first client authenticated, BUT it rejects ("connection aborted") as soon as
  // any incoming websocket closes before that - a failed auth, or even a bare TCP/WS probe. The listener keeps running
  // and a later successful auth still emits 'connect', so wait for that event instead of trusting connect().
  const connected = new Promise(resolve => plugin.once('connect', resolve))
  plugin.connect().catch(e => plugin._log.debug('server connect() rejected (keeps listening): ' + e.message))
  const wss = plugin._wss // created synchronously inside connect()
  const listening = new Promise((resolve, reject) => {
    wss.once('listening', () => resolve(wss.address().port))
    wss.once('error', reject)
  })
  return { listening, connected }
}

// ---------------------------------------------------------------------------------------------
// Receiving
// ---------------------------------------------------------------------------------------------
function attachReceiver (plugin, opts, out) {
  // opts: { address() -> string, rejectCode, rejectMessage, fulfillDelayMs, ildcpInfo }
  const stats = { received: 0, fulfilled: 0, rejected: 0 }
  plugin.registerDataHandler(async (buf) => {
    const address = opts.address()
    let prepare
    try {
      prepare = IlpPacket.deserializeIlpPrepare(buf)
    } catch (e) {
      out({ event: 'received-invalid', hex: Buffer.from(buf).toString('hex').slice(0, 200), message: e.message })
      return IlpPacket.serializeIlpReject({ code: 'F01', triggeredBy: address, message: 'invalid packet: ' + e.message, data: Buffer.alloc(0) })
    }
    if (prepare.destination.startsWith('peer.route.')) {
      // CCP from a connector that takes this plugin for a route speaker: a plain endpoint declines, as ilp-plugin users do.
      out({ event: 'peer-protocol', destination: prepare.destination })
      return IlpPacket.serializeIlpReject({ code: 'F02', triggeredBy: address, message: 'not a connector: no routes here', data: Buffer.alloc(0) })
    }
    stats.received++

    if (opts.ildcpInfo && prepare.destination === 'peer.config') {
      out({ event: 'ildcp-served', clientAddress: opts.ildcpInfo.clientAddress })
      return Ildcp.serve({ requestPacket: buf, handler: async () => opts.ildcpInfo, serverAddress: address })
    }

    const is32 = prepare.data.length === 32
    const conditionMatches = is32 && sha256(prepare.data).equals(prepare.executionCondition)
    let reply
    let result
    if (opts.rejectCode) {
      reply = IlpPacket.serializeIlpReject({ code: opts.rejectCode, triggeredBy: address, message: opts.rejectMessage || 'rejected by interop peer', data: Buffer.alloc(0) })
      result = 'reject'
    } else if (is32) {
      // Fulfil with the preimage the sender put in data. If it does not hash to the condition the connector
      // is expected to turn this into an F05 reject (conditionMatches:false tells the test that happened on purpose).
      reply = IlpPacket.serializeIlpFulfill({ fulfillment: prepare.data, data: Buffer.alloc(0) })
      result = 'fulfill'
    } else {
      reply = IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: address, message: 'unexpected payment: data is not a 32-byte preimage', data: Buffer.alloc(0) })
      result = 'reject'
    }
    if (result === 'fulfill') stats.fulfilled++; else stats.rejected++
    out({
      event: 'received',
      amount: prepare.amount,
      destination: prepare.destination,
      expiresAt: prepare.expiresAt.toISOString(),
      dataLength: prepare.data.length,
      conditionMatches,
      result
    })
    if (opts.fulfillDelayMs) await new Promise(resolve => setTimeout(resolve, opts.fulfillDelayMs))
    return reply
  })
  return stats
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------
async function runSender (plugin, opts, out) {
  // opts: { destination, count, amount, concurrency, expiryMs }
  const summary = { event: 'done', sent: 0, fulfilled: 0, rejected: 0, errors: 0, codes: {} }
  let next = 0
  const started = Date.now()
  const worker = async () => {
    while (next < opts.count) {
      const index = next++
      const preimage = crypto.randomBytes(32)
      const condition = sha256(preimage)
      const prepare = IlpPacket.serializeIlpPrepare({
        amount: opts.amount,
        expiresAt: new Date(Date.now() + opts.expiryMs),
        executionCondition: condition,
        destination: opts.destination,
        data: preimage
      })
      const t0 = Date.now()
      summary.sent++
      let replyBuf
      try {
        replyBuf = await plugin.sendData(prepare)
      } catch (e) {
        // BTP-level ERROR (ilp-plugin-btp rejects with Error(JSON.stringify(btpErrorData))) or response timeout
        summary.errors++
        out({ event: 'reply', index, type: 'error', code: null, fulfillmentOk: false, message: e.message, latencyMs: Date.now() - t0 })
        continue
      }
      let reply
      try {
        reply = IlpPacket.deserializeIlpPacket(replyBuf)
      } catch (e) {
        summary.errors++
        out({ event: 'reply', index, type: 'error', code: null, fulfillmentOk: false, message: 'undecodable reply: ' + e.message, hex: Buffer.from(replyBuf).toString('hex').slice(0, 200), latencyMs: Date.now() - t0 })
        continue
      }
      if (reply.type === IlpPacket.Type.TYPE_ILP_FULFILL) {
        const ok = sha256(reply.data.fulfillment).equals(condition)
        summary.fulfilled++
        out({ event: 'reply', index, type: 'fulfill', code: null, fulfillmentOk: ok, latencyMs: Date.now() - t0 })
      } else if (reply.type === IlpPacket.Type.TYPE_ILP_REJECT) {
        const r = reply.data
        summary.rejected++
        summary.codes[r.code] = (summary.codes[r.code] || 0) + 1
        out({ event: 'reply', index, type: 'reject', code: r.code, fulfillmentOk: false, triggeredBy: r.triggeredBy, message: r.message, data: r.data.toString('hex'), latencyMs: Date.now() - t0 })
      } else {
        summary.errors++
        out({ event: 'reply', index, type: 'error', code: null, fulfillmentOk: false, message: 'reply is a Prepare', latencyMs: Date.now() - t0 })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, Math.max(opts.count, 1)) }, worker))
  summary.elapsedMs = Date.now() - started
  out(summary)
  return summary
}

// ---------------------------------------------------------------------------------------------
// Shared CLI driver for both scripts
// ---------------------------------------------------------------------------------------------
/** Registers the receive-mode data handler configured by the CLI options. */
function attachReceiverFromCli (plugin, values, getAddress, ildcpInfo) {
  return attachReceiver(plugin, {
    address: getAddress,
    rejectCode: values['reject-code'],
    rejectMessage: values['reject-message'],
    fulfillDelayMs: values['fulfill-delay-ms'],
    ildcpInfo
  }, emit)
}

/** Send run configured by the CLI options; then exits (mode send), or lingers / waits for stdin EOF (mode both). */
async function runSendFromCli (plugin, values, ctl) {
  if (values['wait-for-go']) {
    emit({ event: 'waiting-for-go' })
    await new Promise(resolve => ctl.onGo(resolve))
  }
  ctl.setBusy(true)
  await runSender(plugin, {
    destination: values.destination,
    count: values.count,
    amount: values.amount,
    concurrency: values.concurrency,
    expiryMs: values['expiry-ms']
  }, emit)
  ctl.setBusy(false)
  if (values.mode === 'send') {
    await ctl.exit(EXIT.OK, 'done')
  } else if (values['linger-ms'] !== undefined) {
    setTimeout(() => ctl.exit(EXIT.OK, 'linger-elapsed'), values['linger-ms'])
  }
  // mode both without --linger-ms: keep receiving until stdin EOF / "quit" / --timeout-ms
}

module.exports = {
  EXIT,
  fatal,
  parseCli,
  emit,
  makeLogger,
  processControl,
  ObservableBtpPlugin,
  createClientPlugin,
  createServerPlugin,
  startServer,
  attachReceiver,
  runSender,
  attachReceiverFromCli,
  runSendFromCli,
  sha256
}
