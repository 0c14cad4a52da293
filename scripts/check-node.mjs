#!/usr/bin/env node
// Fails early, with a clear message, on a Node.js older than the project supports.
const [maj, min] = process.versions.node.split('.').map(Number);
if (maj < 20 || (maj === 20 && min < 19)) {
  console.error(`stream-workers needs Node.js >= 20.19 (22 or 24 LTS recommended); this is ${process.version}. Install a newer Node.js (e.g. with nvm: nvm install 22).`);
  process.exit(1);
}
