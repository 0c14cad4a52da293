#!/usr/bin/env node
// Prints the line CI reads, from one or more `jest --json --outputFile=F` files:
// "jest: N passed, N failed" (", N skipped" when some were). A missing file counts as a failure.
import { readFileSync, existsSync } from 'node:fs';
const files = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
let missing = 0;
for (const file of files) {
  if (!existsSync(file)) {
    console.error(`jest-summary: ${file} not written: jest did not run`);
    missing += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const brokenSuites = (r.testResults ?? []).filter((s) => s.status === 'failed' && (s.assertionResults ?? []).length === 0);
  for (const s of brokenSuites) console.error(`suite failed to run: ${s.name}\n${(s.message ?? '').slice(0, 2000)}`);
  passed += r.numPassedTests;
  failed += r.numFailedTests + brokenSuites.length;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`jest: ${passed} passed, ${failed + missing} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (files.length === 0 || missing > 0) process.exit(1);
