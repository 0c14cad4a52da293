/**
 * `make demo` end to end from a fresh checkout (issue 8, must-show 1, 2 and 4; `make test` runs it, so
 * CI does): this checkout's files are copied into a temporary directory as `git clone` gives them
 * (tracked and new files, nothing ignored: no node_modules, no dist), and `DEMO_DURATION=20 make demo`
 * runs there: it must install (`npm ci`) and build by itself, start its own redis-server, real
 * services and real worker processes, and write `demo-report/` in that directory. Then the report,
 * the counts and the process table are checked.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Summary } from '../demo/src/summary';
import { alive, freshCheckout, killRunId, processesWithRunId, startDemo, within } from './demo-support';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('make demo (DEMO_DURATION=20) from a fresh checkout in a temporary directory', () => {
  const runId = `smoke${randomBytes(4).toString('hex')}`;
  const checkout = mkdtempSync(join(tmpdir(), 'sw-demo-checkout-'));
  const dir = join(checkout, 'demo-report');
  let files = 0;
  let code: number | null = null;
  let output = '';
  let summary: Summary;

  beforeAll(async () => {
    files = freshCheckout(checkout);
    expect(existsSync(join(checkout, 'node_modules'))).toBe(false);
    expect(existsSync(join(checkout, 'services', 'worker', 'dist'))).toBe(false);
    // npm ci from the local npm cache when it holds the packages (fast, and offline-safe); the
    // registry otherwise.
    // DEMO_VIEW as a user has it (auto): stdout is a pipe here, so plain lines, not a redrawn table.
    const run = startDemo({ DEMO_DURATION: '20', DEMO_RUN_ID: runId, DEMO_VIEW: 'auto', npm_config_prefer_offline: 'true' }, checkout);
    try {
      ({ code } = await within(run.exited, 560_000, 'make demo to exit'));
    } finally {
      output = run.output();
      run.killGroup();
    }
    const file = join(dir, 'summary.json');
    if (!existsSync(file)) throw new Error(`no summary.json; make demo exited ${code}; output:\n${output.slice(-4000)}`);
    summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  }, 600_000);

  afterAll(() => {
    killRunId(runId);
    rmSync(checkout, { recursive: true, force: true });
  });

  it('installs and builds what is missing without being asked, then exits 0 after a completed run whose checks all pass', () => {
    expect(files).toBeGreaterThan(100);
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${output.slice(-4000)}`);
    expect(existsSync(join(checkout, 'node_modules', '.package-lock.json'))).toBe(true); // npm ci ran
    for (const svc of ['producer', 'worker', 'lag-exporter', 'autoscaler']) expect(existsSync(join(checkout, 'services', svc, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(checkout, 'scripts', 'demo', 'dist', 'main.js'))).toBe(true);
    expect(summary.outcome).toBe('completed');
    expect(summary.checks.filter((c) => !c.ok)).toEqual([]);
    // The summary printed at the end says where the report is.
    expect(output).toMatch(/report: demo-report\/index\.html\s+chart: demo-report\/chart\.png/);
    // Not a terminal: one plain line per second (every phase shows up), no escape codes.
    for (const phase of ['quiet', 'ramp', 'burst', 'cooldown']) expect(output).toContain(`phase=${phase}`);
    expect(output).not.toContain('\x1b[');
  });

  it('writes demo-report/index.html (with the inline chart) and demo-report/chart.png in the checkout', () => {
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('lost');
    const png = readFileSync(join(dir, 'chart.png'));
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(png.length).toBeGreaterThan(10_000);
  });

  it('accounts for every published event: published = processed + dead-lettered, 0 lost', () => {
    const c = summary.counts;
    expect(c.published).toBeGreaterThan(500);
    expect(c.poisonPublished).toBeGreaterThan(0);
    expect(c.deadLettered).toBe(c.poisonPublished);
    expect(c.unfinished).toBe(0);
    expect(c.processed + c.deadLettered).toBe(c.published);
    expect(c.lost).toBe(0);
    expect(c.entriesAdded).toBe(c.published);
  });

  it('scales above MIN during the burst and is back at MIN at the end (timeline)', () => {
    const min = summary.config.minReplicas;
    const burst = summary.timeline.filter((s) => s.phase === 'burst');
    expect(burst.length).toBeGreaterThan(0);
    expect(Math.max(...burst.map((s) => s.running))).toBeGreaterThan(min);
    const last = summary.timeline[summary.timeline.length - 1]!;
    expect(last.running).toBe(min);
    expect(summary.replicas.atEnd).toBe(min);
  });

  it('leaves no process behind (every pid it started is gone, its redis-server too; nothing carries its run id)', () => {
    expect(summary.processes.started.length).toBeGreaterThanOrEqual(5); // redis-server, 3 services, ≥ 2 workers
    expect(summary.processes.started.filter((p) => p.name === 'redis-server')).toHaveLength(1);
    expect(summary.processes.started.filter((p) => p.name === 'worker').length).toBeGreaterThan(1);
    expect(summary.processes.orphans).toEqual([]);
    expect(summary.processes.started.filter((p) => alive(p.pid))).toEqual([]);
    expect(processesWithRunId(runId)).toEqual([]);
  });
});
