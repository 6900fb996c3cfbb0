'use strict';
// Usage: node derive.js <family seed>
// Prints {"publicKey","address","algorithm"} as derived by ripple-keypairs (account index 0).
const keypairs = require('ripple-keypairs');

function main(argv) {
  if (argv.length !== 1) throw new Error('usage: node derive.js <seed>');
  const seed = argv[0];
  const decoded = keypairs.decodeSeed(seed);
  const { publicKey } = keypairs.deriveKeypair(seed);
  const address = keypairs.deriveAddress(publicKey);
  return { publicKey, address, algorithm: decoded.type };
}

try {
  process.stdout.write(JSON.stringify(main(process.argv.slice(2))) + '\n');
} catch (e) {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(2);
}
