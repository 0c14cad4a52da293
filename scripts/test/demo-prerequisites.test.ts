/**
 * `make demo`'s prerequisites (issue 8): before anything is installed, built or started it fails with
 * a clear message when Node.js is too old or when no redis-server is on PATH and REDIS_URL is unset;
 * with REDIS_URL set it uses that Redis (no redis-server of its own) and deletes only its own keys.
 * Real `make`, real `bash`, real `node` (the "old" Node.js is the real one told to report 18.20.4).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { Summary } from '../demo/src/summary';
import { REPO_ROOT, alive, killRunId, processesWithRunId, startDemo, within } from './demo-support';

const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The absolute path of `cmd` on this machine's PATH. */
function which(cmd: string): string {
  const r = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || !p) throw new Error(`${cmd} not found on PATH`);
  return p;
}

/** A PATH directory holding only the given programs (symlinks to the real ones, or scripts). */
function binDir(dir: string, links: string[], scripts: Record<string, string> = {}): string {
  const bin = join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  for (const l of links) symlinkSync(which(l), join(bin, l));
  for (const [name, text] of Object.entries(scripts)) writeFileSync(join(bin, name), text, { mode: 0o755 });
  return bin;
}

/** `make demo` with exactly this PATH (and no REDIS_URL): what it printed and how it ended. */
function makeDemoWithPath(path: string): { status: number | null; out: string } {
  const env: Record<string, string> = { PATH: path, HOME: process.env.HOME ?? '/tmp', DEMO_VIEW: 'plain', DEMO_DURATION: '10' };
  const r = spawnSync(which('make'), ['--no-print-directory', 'demo'], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('make demo fails early, with a clear message', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sw-demo-prereq-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('no redis-server on PATH and REDIS_URL unset: says how to get one or how to use REDIS_URL, before installing or building anything', () => {
    const bin = binDir(dir, ['node', 'bash', 'cat', 'dirname']);
    const r = makeDemoWithPath(bin);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('make demo starts its own private redis-server, but none is on PATH');
    expect(r.out).toContain('sudo apt-get install redis-server');
    expect(r.out).toContain('brew install redis');
    expect(r.out).toContain('REDIS_URL=redis://127.0.0.1:6379 make demo');
    // Nothing after the check ran: no npm, no tsc (which would print or fail differently), no demo.
    expect(r.out).not.toMatch(/npm|tsc|starting a private redis-server/);
    expect(r.out).toMatch(/\[(Makefile:\d+: )?demo-prerequisites\] Error 1/);
  });

  test('Node.js older than 20.19: names the version found and the one needed, before anything else', () => {
    const real = which('node');
    const fake = join(dir, 'node-18.js');
    writeFileSync(fake, "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.20.4' } });\nObject.defineProperty(process, 'version', { value: 'v18.20.4' });\n");
    const bin = binDir(dir, ['bash', 'cat', 'dirname', 'redis-server'], { node: `#!/bin/sh\nexec '${real}' --require '${fake}' "$@"\n` });
    const r = makeDemoWithPath(bin);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('stream-workers needs Node.js >= 20.19 (22 or 24 LTS recommended); this is v18.20.4');
    expect(r.out).toContain('nvm install 22');
    expect(r.out).not.toMatch(/npm|tsc|starting a private redis-server/);
  });

  test('no node on PATH at all: says so', () => {
    const bin = binDir(dir, ['bash', 'cat', 'dirname', 'redis-server']);
    const r = spawnSync(which('bash'), [join(REPO_ROOT, 'scripts', 'demo.sh'), '--check'], { env: { PATH: bin }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('make demo needs Node.js >= 20.19 on PATH');
  });
});

describe('make demo with REDIS_URL set (the shared Redis)', () => {
  const runId = `url${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sw-demo-report-'));
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  afterAll(async () => {
    killRunId(runId);
    // Backstop only: the demo deletes its keys itself (asserted below).
    const keys = await redis.keys(`demo-${runId}*`);
    if (keys.length > 0) await redis.unlink(...keys);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  test('uses that Redis (starts no redis-server), accounts for every event, and deletes only its own keys', async () => {
    const marker = `demo-${runId}-not-ours`;
    await redis.set(marker, 'a key the demo must not touch', 'EX', 600);
    const run = startDemo({ DEMO_DURATION: '10', DEMO_REPORT_DIR: dir, DEMO_RUN_ID: runId, REDIS_URL: SHARED_REDIS_URL });
    let code: number | null;
    try {
      ({ code } = await within(run.exited, 240_000, 'make demo to exit'));
    } finally {
      run.killGroup();
    }
    const file = join(dir, 'summary.json');
    if (!existsSync(file)) throw new Error(`no summary.json; make demo exited ${code}; output:\n${run.output().slice(-4000)}`);
    const summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${run.output().slice(-4000)}`);
    expect(summary.outcome).toBe('completed');
    expect(summary.processes.started.map((p) => p.name)).not.toContain('redis-server');
    expect(run.output()).not.toContain('starting a private redis-server');
    const c = summary.counts;
    expect(c.published).toBeGreaterThan(0);
    expect(c.processed + c.deadLettered).toBe(c.published);
    expect(c.lost).toBe(0);
    // Its stream (demo-<run id>) and every key under it are gone; the key it did not make is still there.
    expect((await redis.keys(`demo-${runId}*`)).sort()).toEqual([marker]);
    expect(await redis.get(marker)).toBe('a key the demo must not touch');
    await redis.del(marker);
    expect(summary.processes.started.filter((p) => alive(p.pid))).toEqual([]);
    expect(processesWithRunId(runId)).toEqual([]);
  }, 260_000);
});
