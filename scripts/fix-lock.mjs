#!/usr/bin/env node
// The npm registry mirror this project is built against lacks some other-platform binaries (e.g.
// @swc/core-darwin-arm64), so `npm install` writes a package-lock.json whose packages list optional
// platform dependencies that have no entry of their own, and `npm ci` then rejects the lock
// ("Missing: … from lock file"). This drops those dangling optional references, so `npm ci` works
// on Linux x64 (CI, the images). On another platform run `npm install` against the public registry.
// Run after every `npm install`: node scripts/fix-lock.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const present = new Set(Object.keys(lock.packages).map((k) => k.replace(/^.*node_modules\//, '')));
let dropped = 0;
for (const entry of Object.values(lock.packages)) {
  const opt = entry.optionalDependencies;
  if (!opt) continue;
  for (const name of Object.keys(opt)) {
    if (!present.has(name)) {
      delete opt[name];
      dropped += 1;
    }
  }
  if (Object.keys(opt).length === 0) delete entry.optionalDependencies;
}
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`fix-lock: dropped ${dropped} optional dependencies the lock has no entry for`);
