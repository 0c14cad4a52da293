#!/usr/bin/env node
/**
 * Writes the values table of charts/stream-workers/README.md from values.yaml and its comments, the
 * helm-docs convention (helm-docs itself is a Go binary, in neither npm nor Debian): a `# -- text`
 * comment block right above a key describes it; every leaf key is a row (key, type, default,
 * description). `--check` exits 1 when the README is not up to date (CI: charts/test/chart-readme.test.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const CHART = join(dirname(fileURLToPath(import.meta.url)), '..', 'charts', 'stream-workers');
const START = '<!-- values-table:start -->';
const END = '<!-- values-table:end -->';

/** Rows of the table: one per leaf key (and per key with a `# --` description). */
export function valuesRows(text) {
  const values = parse(text);
  const rows = [];
  const stack = []; // { indent, key }
  let comment = [];
  for (const line of text.split('\n')) {
    const c = /^\s*#\s?(.*)$/.exec(line);
    if (c) {
      if (c[1].startsWith('-- ')) comment = [c[1].slice(3)];
      else if (comment.length > 0) comment.push(c[1]);
      continue;
    }
    const m = /^(\s*)([A-Za-z0-9_.\/-]+):(\s.*|)$/.exec(line);
    if (!m) {
      comment = [];
      continue;
    }
    const indent = m[1].length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: m[2] });
    const path = stack.map((s) => s.key);
    const rest = m[3].replace(/\s+#.*$/, '').trim();
    const leaf = rest !== '';
    if (leaf || comment.length > 0) {
      const value = path.reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), values);
      rows.push({ key: path.join('.'), type: typeOf(value), default: value, description: comment.join(' ').trim() });
    }
    comment = [];
  }
  return rows;
}

function typeOf(v) {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v;
}

const cell = (s) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function valuesTable(text) {
  const lines = ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |'];
  for (const r of valuesRows(text)) lines.push(`| \`${r.key}\` | ${r.type} | \`${cell(JSON.stringify(r.default) ?? 'null')}\` | ${cell(r.description)} |`);
  return lines.join('\n');
}

/** The README with its table section replaced. */
export function renderReadme(readme, valuesText) {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`charts/stream-workers/README.md has no ${START} … ${END} section`);
  return `${readme.slice(0, a + START.length)}\n${valuesTable(valuesText)}\n${readme.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readmePath = join(CHART, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const expected = renderReadme(readme, readFileSync(join(CHART, 'values.yaml'), 'utf8'));
  if (process.argv.includes('--check')) {
    if (expected !== readme) {
      process.stderr.write('charts/stream-workers/README.md is out of date with values.yaml: run `node scripts/chart-readme.mjs`\n');
      process.exit(1);
    }
    process.stdout.write('charts/stream-workers/README.md is up to date\n');
  } else {
    writeFileSync(readmePath, expected);
    process.stdout.write('wrote charts/stream-workers/README.md\n');
  }
}
