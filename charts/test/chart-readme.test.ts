/**
 * The chart README's values table is generated from values.yaml's `# --` comments
 * (scripts/chart-readme.mjs, the helm-docs convention); this fails when it is out of date.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const script = join(ROOT, 'scripts', 'chart-readme.mjs');

test('charts/stream-workers/README.md has the values table of values.yaml (node scripts/chart-readme.mjs rewrites it)', () => {
  const r = spawnSync(process.execPath, [script, '--check'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('the table has a row per documented key, with its type, default and `# --` description', () => {
  const readme = readFileSync(join(ROOT, 'charts', 'stream-workers', 'README.md'), 'utf8');
  expect(readme).toContain('| `redis.auth.enabled` | boolean | `true` | Redis requires a password');
  expect(readme).toContain('| `workers` | object | `{}` | The worker pools');
  expect(readme).toMatch(/\| `workerDefaults\.external\.deploymentName` \| string \| `""` \| Scale this existing Deployment/);
});

test('renderReadme replaces the table section with one row per key of the values and its comment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chart-readme-'));
  const mod = `import { renderReadme } from ${JSON.stringify(script)};
const out = renderReadme('x\\n<!-- values-table:start -->\\nold\\n<!-- values-table:end -->\\n', '# -- A thing.\\nfoo: 1\\nbar:\\n  # -- Nested.\\n  baz: "q"\\n');
process.stdout.write(out);`;
  writeFileSync(join(dir, 't.mjs'), mod);
  const r = spawnSync(process.execPath, [join(dir, 't.mjs')], { encoding: 'utf8' });
  expect(r.stdout).toBe('x\n<!-- values-table:start -->\n| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n| `foo` | int | `1` | A thing. |\n| `bar.baz` | string | `"q"` | Nested. |\n<!-- values-table:end -->\n');
});
