/**
 * `make demo` end to end (issue 8, must-show 1, 2 and 4): a 20 s run with its own redis-server, real
 * services and real worker processes; then the report, the counts and the process table are checked.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Summary } from '../demo/src/summary';
import { alive, killRunId, processesWithRunId, startDemo, within } from './demo-support';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('make demo (DEMO_DURATION=20)', () => {
  const runId = `smoke${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sw-demo-report-'));
  let code: number | null = null;
  let output = '';
  let summary: Summary;

  beforeAll(async () => {
    const run = startDemo({ DEMO_DURATION: '20', DEMO_REPORT_DIR: dir, DEMO_RUN_ID: runId });
    try {
      ({ code } = await within(run.exited, 280_000, 'make demo to exit'));
    } finally {
      output = run.output();
      run.killGroup();
    }
    const file = join(dir, 'summary.json');
    if (!existsSync(file)) throw new Error(`no summary.json; make demo exited ${code}; output:\n${output.slice(-4000)}`);
    summary = JSON.parse(readFileSync(file, 'utf8')) as Summary;
  }, 300_000);

  afterAll(() => {
    killRunId(runId);
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 after a completed run whose checks all pass', () => {
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${output.slice(-4000)}`);
    expect(summary.outcome).toBe('completed');
    expect(summary.checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('writes index.html (with the inline chart) and chart.png', () => {
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

  it('leaves no process behind (every pid it started is gone; nothing carries its run id)', () => {
    expect(summary.processes.started.length).toBeGreaterThanOrEqual(5); // redis-server, 3 services, ≥ 2 workers
    expect(summary.processes.started.filter((p) => p.name === 'worker').length).toBeGreaterThan(1);
    expect(summary.processes.orphans).toEqual([]);
    expect(summary.processes.started.filter((p) => alive(p.pid))).toEqual([]);
    expect(processesWithRunId(runId)).toEqual([]);
  });
});
