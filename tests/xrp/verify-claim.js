'use strict';
// Usage: node verify-claim.js <public key hex> <channel id hex (64)> <drops (decimal UInt64)> <signature hex>
// Prints {"valid": true|false}; a key or signature that ripple-keypairs cannot parse is {"valid": false, "error": ...}.
const keypairs = require('ripple-keypairs');
const codec = require('ripple-binary-codec');

function main(argv) {
  if (argv.length !== 4) throw new Error('usage: node verify-claim.js <publicKey> <channel> <drops> <signature>');
  const [publicKey, channel, drops, signature] = argv;
  const message = codec.encodeForSigningClaim({ channel, amount: drops });
  try {
    return { valid: keypairs.verify(message, signature, publicKey) === true };
  } catch (e) {
    return { valid: false, error: String(e && e.message ? e.message : e) };
  }
}

try {
  process.stdout.write(JSON.stringify(main(process.argv.slice(2))) + '\n');
} catch (e) {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
}
