// ilp-plugin-btp 1.5.0 with BTP TRANSFER settlement, as plugins built on it do: its own sendMoney() is a
// no-op and its _handleMoney() refuses every TRANSFER. Loaded by ilp-connector by path (js-connector-peer.js).
'use strict'
const crypto = require('crypto')
const BtpPacket = require('btp-packet')
const BtpPlugin = require('ilp-plugin-btp')

class BtpTransferPlugin extends BtpPlugin {
  async sendMoney (amount) {
    const requestId = crypto.randomBytes(4).readUInt32BE(0)
    await this._call('', { type: BtpPacket.TYPE_TRANSFER, requestId, data: { amount: String(amount), protocolData: [] } })
    process.stdout.write(JSON.stringify({ event: 'money-sent', amount: String(amount), requestId }) + '\n')
  }

  async _handleMoney (from, btpPacket) {
    const amount = String(btpPacket.data.amount)
    if (this._moneyHandler) await this._moneyHandler(amount)
    process.stdout.write(JSON.stringify({ event: 'money-received', amount }) + '\n')
    return []
  }
}
BtpTransferPlugin.version = 2
module.exports = BtpTransferPlugin
