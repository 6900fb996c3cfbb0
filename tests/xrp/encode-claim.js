'use strict';
// Usage: node encode-claim.js <channel id hex (64)> <drops (decimal UInt64)>
// Prints {"message"}: ripple-binary-codec encodeForSigningClaim({channel, amount}).
const codec = require('ripple-binary-codec');

try {
  const argv = process.argv.slice(2);
  if (argv.length !== 2) throw new Error('usage: node encode-claim.js <channel> <drops>');
  const message = codec.encodeForSigningClaim({ channel: argv[0], amount: argv[1] });
  process.stdout.write(JSON.stringify({ message }) + '\n');
} catch (e) {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
}
