// ilp-protocol-stream 2.7.1 assigns `this.closed` in DataAndMoneyStream (a Duplex); since Node 18 `closed` is a
// getter-only, non-configurable property of the stream prototypes, so that assignment throws. An accessor on the
// subclass's own prototype shadows it and keeps the library's value (Node's internals read _readableState, not
// this getter). Patched in both copies: ours and the one ilp-protocol-spsp bundles.
'use strict'
const path = require('path')

function patch (streamModulePath) {
  const { DataAndMoneyStream } = require(streamModulePath)
  const proto = DataAndMoneyStream.prototype
  if (Object.prototype.hasOwnProperty.call(proto, 'closed')) return
  Object.defineProperty(proto, 'closed', {
    configurable: true,
    get () { return this._m2mClosed === true },
    set (v) { this._m2mClosed = v }
  })
}

patch(path.join(path.dirname(require.resolve('ilp-protocol-stream')), 'stream'))
const spspDir = path.dirname(require.resolve('ilp-protocol-spsp'))
patch(path.join(path.dirname(require.resolve('ilp-protocol-stream', { paths: [spspDir] })), 'stream'))
