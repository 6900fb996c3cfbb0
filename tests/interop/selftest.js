#!/usr/bin/env node
// Self-test of the interop peer logic WITHOUT the C# connector: two ilp-plugin-btp instances talk to each other on 127.0.0.1.
//   cd tests/interop && npm ci && node selftest.js        (or: npm test)
// Uses node:test; prints the node test runner summary (tests/pass/fail) and exits non-zero on failure.
'use strict'

const test = require('node:test')
const assert = require('assert')
const path = require('path')
const { spawn } = require('child_process')
const WebSocket = require('ws')
const BtpPacket = require('btp-packet')
const IlpPacket = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')
const lib = require('./peer-lib')

const quietLog = () => lib.makeLogger('selftest', false)

function collect () {
  const events = []
  const out = (e) => events.push(e)
  return { events, out }
}

test('in-process: server plugin in receive mode fulfils 10 packets sent by a client plugin', async () => {
  const server = lib.createServerPlugin({ port: 0, secret: 'sekrit', log: quietLog() })
  const recv = collect()
  const stats = lib.attachReceiver(server, { address: () => 'test.server' }, recv.out)
  const { listening, connected } = lib.startServer(server)
  const port = await listening
  const client = lib.createClientPlugin({ url: `btp+ws://alice:sekrit@127.0.0.1:${port}`, log: quietLog() })
  try {
    await client.connect()
    await connected
    assert.strictEqual(server.lastAuth.authUsername, 'alice')
    const sent = collect()
    const summary = await lib.runSender(client, { destination: 'test.server.bob', count: 10, amount: '123', concurrency: 3, expiryMs: 30000 }, sent.out)
    assert.strictEqual(summary.fulfilled, 10, JSON.stringify(summary))
    assert.strictEqual(summary.rejected, 0)
    assert.strictEqual(summary.errors, 0)
    const replies = sent.events.filter(e => e.event === 'reply')
    assert.strictEqual(replies.length, 10)
    assert(replies.every(r => r.type === 'fulfill' && r.fulfillmentOk === true))
    assert.strictEqual(stats.fulfilled, 10)
    const received = recv.events.filter(e => e.event === 'received')
    assert.strictEqual(received.length, 10)
    assert(received.every(r => r.amount === '123' && r.destination === 'test.server.bob' && r.conditionMatches))
  } finally {
    await client.disconnect()
    await server.disconnect()
  }
})

test('in-process: non-32-byte data is rejected F06; --reject-code style rejects propagate; ILDCP is served', async () => {
  const server = lib.createServerPlugin({ port: 0, secret: 's', log: quietLog() })
  const recv = collect()
  lib.attachReceiver(server, { address: () => 'test.server', ildcpInfo: { clientAddress: 'test.server.child', assetCode: 'USD', assetScale: 2 } }, recv.out)
  const { listening } = lib.startServer(server)
  const port = await listening
  const client = lib.createClientPlugin({ url: `btp+ws://u:s@127.0.0.1:${port}`, log: quietLog() })
  try {
    await client.connect()
    const info = await Ildcp.fetch(client.sendData.bind(client))
    assert.deepStrictEqual(info, { clientAddress: 'test.server.child', assetCode: 'USD', assetScale: 2 })
    const reply = IlpPacket.deserializeIlpPacket(await client.sendData(IlpPacket.serializeIlpPrepare({
      amount: '5', expiresAt: new Date(Date.now() + 10000), executionCondition: Buffer.alloc(32, 1), destination: 'test.server.x', data: Buffer.from('short')
    })))
    assert.strictEqual(reply.type, IlpPacket.Type.TYPE_ILP_REJECT)
    assert.strictEqual(reply.data.code, 'F06')
    assert.strictEqual(reply.data.triggeredBy, 'test.server')
  } finally {
    await client.disconnect()
    await server.disconnect()
  }
})

test('wire: auth frame sent by the ilp-plugin-btp client, and what the server answers', async () => {
  // A raw ws server records the first frame and answers like ilp-plugin-btp's listener does.
  const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0 })
  await new Promise(resolve => wss.once('listening', resolve))
  const port = wss.address().port
  const frames = []
  wss.on('connection', (ws, req) => {
    frames.push({ url: req.url })
    ws.once('message', (msg) => {
      frames.push({ auth: Buffer.from(msg) })
      const p = BtpPacket.deserialize(msg)
      ws.send(BtpPacket.serializeResponse(p.requestId, []))
      // afterwards: a MESSAGE with no ilp protocol data, to see how the client plugin answers it
      ws.once('message', (m2) => { frames.push({ reply: Buffer.from(m2) }) })
      ws.send(BtpPacket.serializeMessage(4242, [{ protocolName: 'custom_thing', contentType: BtpPacket.MIME_TEXT_PLAIN_UTF8, data: Buffer.from('hi') }]))
    })
  })
  const client = lib.createClientPlugin({ url: `btp+ws://my%20user:to%3Aken@127.0.0.1:${port}/some/path`, log: quietLog() })
  client.registerDataHandler(async () => { throw new Error('must not be called for a MESSAGE without ilp data') })
  try {
    await client.connect()
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.strictEqual(frames[0].url, '/some/path', 'userinfo is stripped from the ws URL, path kept')
    const auth = BtpPacket.deserialize(frames[1].auth)
    assert.strictEqual(auth.type, BtpPacket.TYPE_MESSAGE)
    assert.deepStrictEqual(auth.data.protocolData.map(p => [p.protocolName, p.contentType, p.data.toString('utf8')]), [
      ['auth', BtpPacket.MIME_APPLICATION_OCTET_STREAM, ''],
      ['auth_username', BtpPacket.MIME_TEXT_PLAIN_UTF8, 'my%20user'], // URL.username is NOT percent-decoded
      ['auth_token', BtpPacket.MIME_TEXT_PLAIN_UTF8, 'to%3Aken']
    ])
    const reply = BtpPacket.deserialize(frames[2].reply)
    assert.strictEqual(reply.type, BtpPacket.TYPE_RESPONSE, 'MESSAGE without ilp -> empty RESPONSE (data handler not called)')
    assert.strictEqual(reply.requestId, 4242)
    assert.deepStrictEqual(reply.data.protocolData, [])
    const hex = frames[1].auth.toString('hex')
    process.stderr.write(`# auth frame (requestId random): ${hex.slice(0, 2)} ${hex.slice(2, 10)} ${hex.slice(10)}\n`)
  } finally {
    await client.disconnect()
    await new Promise(resolve => wss.close(resolve))
  }
})

// ------------------------------------------------------------------------------------------------
// CLI scripts as child processes (how the C# tests drive them)
// ------------------------------------------------------------------------------------------------
function spawnPeer (script, args) {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  const events = []
  const waiters = []
  let buf = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      const ev = JSON.parse(line) // every stdout line must be JSON
      events.push(ev)
      waiters.slice().forEach(w => { if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev) } })
    }
  })
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise(resolve => child.on('exit', (code) => resolve(code)))
  const waitFor = (pred, ms = 10000) => {
    const hit = events.find(pred)
    if (hit) return Promise.resolve(hit)
    return new Promise((resolve, reject) => {
      const w = { pred, resolve }
      waiters.push(w)
      setTimeout(() => reject(new Error(`${script}: timed out waiting; events=${JSON.stringify(events)} stderr=${stderr}`)), ms).unref()
    })
  }
  return { child, events, exited, waitFor, stderr: () => stderr }
}

test('cli: btp-server-peer (receive, ILDCP) + btp-client-peer (send 10, --ildcp, concurrency 4)', async () => {
  const server = spawnPeer('btp-server-peer.js', ['--port', '0', '--secret', 'tok', '--ildcp-client-address', 'test.srv.alice', '--asset-code', 'EUR', '--asset-scale', '6'])
  try {
    const { port } = await server.waitFor(e => e.event === 'listening')
    const client = spawnPeer('btp-client-peer.js', ['--url', `btp+ws://alice:tok@127.0.0.1:${port}`, '--mode', 'send', '--ildcp',
      '--destination', 'test.srv.alice.x', '--count', '10', '--amount', '77', '--concurrency', '4'])
    const code = await client.exited
    assert.strictEqual(code, 0, client.stderr())
    const ev = client.events
    assert.strictEqual(ev[0].event, 'connected')
    assert.deepStrictEqual(ev[1], { event: 'ildcp', clientAddress: 'test.srv.alice', assetCode: 'EUR', assetScale: 6 })
    const done = ev.find(e => e.event === 'done')
    assert.strictEqual(done.fulfilled, 10, JSON.stringify(done))
    assert.strictEqual(ev.filter(e => e.event === 'reply' && e.type === 'fulfill' && e.fulfillmentOk).length, 10)
    assert.deepStrictEqual(ev[ev.length - 1], { event: 'exit', code: 0, reason: 'done' })
    const srvConnected = await server.waitFor(e => e.event === 'connected')
    assert.strictEqual(srvConnected.authUsername, 'alice')
    assert.strictEqual(server.events.filter(e => e.event === 'received' && e.amount === '77').length, 10)
  } finally {
    server.child.stdin.end() // stdin EOF => orderly exit
  }
  assert.strictEqual(await server.exited, 0)
  assert.strictEqual(server.events[server.events.length - 1].reason, 'stdin-closed')
})

test('cli: server in send mode, client in receive mode with --reject-code; wrong token => auth-failed exit 4', async () => {
  const server = spawnPeer('btp-server-peer.js', ['--port', '0', '--secret', 'right', '--mode', 'send', '--count', '3', '--destination', 'test.cli.y'])
  try {
    const { port } = await server.waitFor(e => e.event === 'listening')
    const bad = spawnPeer('btp-client-peer.js', ['--url', `btp+ws://eve:wrong@127.0.0.1:${port}`, '--mode', 'receive'])
    assert.strictEqual(await bad.exited, lib.EXIT.CONNECT_FAILED)
    assert.strictEqual(bad.events[bad.events.length - 1].reason, 'auth-failed')
    const failed = await server.waitFor(e => e.event === 'auth-failed')
    assert.strictEqual(failed.authUsername, 'eve')

    const client = spawnPeer('btp-client-peer.js', ['--url', `btp+ws://bob:right@127.0.0.1:${port}`, '--mode', 'receive', '--reject-code', 'T04', '--reject-message', 'no liquidity'])
    const done = await server.waitFor(e => e.event === 'done')
    assert.deepStrictEqual([done.fulfilled, done.rejected, done.codes], [0, 3, { T04: 3 }])
    const r = server.events.find(e => e.event === 'reply')
    assert.deepStrictEqual([r.type, r.code, r.message, r.triggeredBy], ['reject', 'T04', 'no liquidity', 'test.interop.client'])
    assert.strictEqual(await server.exited, 0)
    await client.waitFor(e => e.event === 'received')
    client.child.stdin.end()
    assert.strictEqual(await client.exited, 0)
  } finally {
    server.child.kill()
  }
})

test('cli: hard timeout => exit 2; stdin "go" gating', async () => {
  const server = spawnPeer('btp-server-peer.js', ['--port', '0', '--secret', 'x', '--timeout-ms', '4000'])
  const { port } = await server.waitFor(e => e.event === 'listening')
  const client = spawnPeer('btp-client-peer.js', ['--url', `btp+ws://a:x@127.0.0.1:${port}`, '--wait-for-go', '--count', '2'])
  await client.waitFor(e => e.event === 'waiting-for-go')
  assert.strictEqual(client.events.filter(e => e.event === 'reply').length, 0)
  client.child.stdin.write('go\n')
  assert.strictEqual(await client.exited, 0)
  assert.strictEqual(client.events.find(e => e.event === 'done').fulfilled, 2)
  assert.strictEqual(await server.exited, lib.EXIT.TIMEOUT) // nobody closed its stdin
  assert.strictEqual(server.events[server.events.length - 1].reason, 'timeout')
})
