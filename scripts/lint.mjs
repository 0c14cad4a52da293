#!/usr/bin/env node
// Project rules that the compiler does not check (run by `make lint` after `tsc -b`):
//  1. Only a service's main.ts reads process.env, installs signal handlers or calls process.exit (docs/design.md, "Code rules").
//  2. No `any` without a comment on the same or the previous line saying why.
//  3. No focused or skipped tests.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const problems = [];

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const files = ['services', 'test-support', 'bench', 'scripts', 'charts', 'test'].flatMap((d) => {
  try { return walk(join(root, d)); } catch { return []; }
});

for (const file of files) {
  const rel = relative(root, file);
  const lines = readFileSync(file, 'utf8').split('\n');
  const isServiceSrc = /^services\/[^/]+\/src\//.test(rel);
  const isMain = /\/main\.ts$/.test(rel) || /\/cli\.ts$/.test(rel) || rel === 'services/core/src/service.ts';
  const isTest = /\.test\.ts$/.test(rel);
  lines.forEach((line, i) => {
    const code = /^\s*(\*|\/\*)/.test(line) ? '' : line.replace(/\/\/.*$/, '');
    const at = `${rel}:${i + 1}`;
    if (isServiceSrc && !isMain) {
      if (/\bprocess\.env\b/.test(code)) problems.push(`${at}: process.env outside main.ts (pass options instead)`);
      if (/\bprocess\.exit\(/.test(code)) problems.push(`${at}: process.exit outside main.ts`);
      if (/\bprocess\.(on|once)\(\s*['"]SIG/.test(code)) problems.push(`${at}: signal handler outside main.ts`);
    }
    if (/(:\s*any\b|\bas any\b|<any>|any\[\])/.test(code)) {
      const prev = lines[i - 1] ?? '';
      if (!/\/\/|\/\*/.test(line) && !/^\s*(\/\/|\*|\/\*)/.test(prev)) problems.push(`${at}: \`any\` without a comment saying why`);
    }
    if (isTest && /\b(it|test|describe)\.(only|skip)\(|\bx(it|describe|test)\(/.test(code)) problems.push(`${at}: focused or skipped test`);
  });
}

if (problems.length > 0) {
  console.error(problems.join('\n'));
  console.error(`lint: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`lint: ${files.length} files checked, no problems`);
