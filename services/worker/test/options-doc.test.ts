/**
 * docs/worker.md's table of `createWorker` options is generated from the options' rules
 * (services/worker/src/options.ts, the environment variables' specs); this test fails when they
 * drift. `UPDATE_DOCS=1` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionsTable } from '../src/options';

const DOC = join(__dirname, '..', '..', '..', 'docs', 'worker.md');
const START = '<!-- options:worker:start -->';
const END = '<!-- options:worker:end -->';

test("docs/worker.md's options table matches the options' rules", () => {
  const doc = readFileSync(DOC, 'utf8');
  const a = doc.indexOf(START);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`docs/worker.md has no ${START} … ${END} section`);
  const expected = `${doc.slice(0, a + START.length)}\n${optionsTable()}\n${doc.slice(b)}`;
  if (process.env.UPDATE_DOCS === '1') writeFileSync(DOC, expected);
  else expect(doc).toBe(expected);
});
