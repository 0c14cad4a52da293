/**
 * The local-cluster scripts without starting a cluster (that is `make test-k8s`): every script
 * parses, cluster-up stops with a message naming a missing prerequisite before it installs or starts
 * anything, and cluster-down with nothing to stop does nothing and succeeds (twice).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const DIR = join(REPO, 'scripts', 'local-cluster');
const isRoot = process.getuid?.() === 0;

describe('scripts/local-cluster', () => {
  test('every script parses (bash -n; node --check)', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.sh') || f.endsWith('.mjs'));
    expect(files).toEqual(expect.arrayContaining(['lib.sh', 'up.sh', 'down.sh', 'build-kubernetes.sh', 'dns-sync.mjs']));
    for (const f of files) {
      const r = f.endsWith('.sh') ? spawnSync('bash', ['-n', join(DIR, f)], { encoding: 'utf8' }) : spawnSync(process.execPath, ['--check', join(DIR, f)], { encoding: 'utf8' });
      expect({ f, status: r.status, err: r.stderr }).toEqual({ f, status: 0, err: '' });
    }
  });

  test('cluster-up in a checkout without helm stops at once, naming it (as root; as another user it names root)', () => {
    // A copy of the scripts in an empty "checkout": no .tools/bin/helm there.
    const repo = mkdtempSync(join(tmpdir(), 'sw-cluster-prereq-'));
    try {
      cpSync(DIR, join(repo, 'scripts', 'local-cluster'), { recursive: true });
      const r = spawnSync('bash', [join(repo, 'scripts', 'local-cluster', 'up.sh')], { encoding: 'utf8', env: { ...process.env, SW_CLUSTER_CACHE: join(repo, 'cache') }, timeout: 60_000 });
      expect(r.status).toBe(1);
      if (isRoot) expect(r.stderr).toContain("helm missing: run 'make tools'");
      else expect(r.stderr).toContain('must run as root');
      // It stopped before building or starting anything.
      expect(existsSync(join(repo, 'cache'))).toBe(false);
      expect(existsSync(join(repo, '.cluster', 'pids'))).toBe(false);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  (isRoot ? test : test.skip)('cluster-down with nothing started succeeds and touches nothing, twice', () => {
    const state = mkdtempSync(join(tmpdir(), 'sw-cluster-down-'));
    rmSync(state, { recursive: true });
    for (let i = 0; i < 2; i++) {
      const r = spawnSync('bash', [join(DIR, 'down.sh')], { encoding: 'utf8', env: { ...process.env, SW_CLUSTER_STATE: state }, timeout: 60_000 });
      expect({ status: r.status, out: r.stdout }).toEqual({ status: 0, out: expect.stringContaining('nothing to stop') });
    }
  });
});
