'use strict';
// Usage: node sign-claim.js <family seed> <channel id hex (64)> <drops (decimal UInt64)>
// Prints {"publicKey","signature","message"}: message = ripple-binary-codec encodeForSigningClaim,
// signature = ripple-keypairs sign(message, privateKey) (uppercase hex).
const keypairs = require('ripple-keypairs');
const codec = require('ripple-binary-codec');

function main(argv) {
  if (argv.length !== 3) throw new Error('usage: node sign-claim.js <seed> <channel> <drops>');
  const [seed, channel, drops] = argv;
  const { privateKey, publicKey } = keypairs.deriveKeypair(seed);
  const message = codec.encodeForSigningClaim({ channel, amount: drops });
  const signature = keypairs.sign(message, privateKey);
  return { publicKey, signature, message };
}

try {
  process.stdout.write(JSON.stringify(main(process.argv.slice(2))) + '\n');
} catch (e) {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
}
