/** DEMO_SCALING=both: the figures per mode from a run's timeline, the side-by-side chart, the variable. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figuresOf, reversals, writeComparison } from '../demo/src/comparison';
import { renderSideBySide } from '../demo/src/chart';
import { demoConfig } from '../demo/src/config';
import { buildScenario } from '../demo/src/scenario';
import type { Sample } from '../demo/src/sample';
import type { Summary } from '../demo/src/summary';

const sample = (over: Partial<Sample>): Sample => ({
  t: 0, phase: 'quiet', published: 0, added: 0, processed: 0, deadLetters: 0, inRate: 10, outRate: 10, outstanding: 3, lag: 0, pending: 3,
  lagSeconds: 0, oldestPendingSeconds: 0.1, consumers: 1, desired: 1, current: 1, running: 1, ...over,
});

/** A summary of DEMO_DURATION=20 whose timeline has `desired` and `outstanding` per second. */
function summaryOf(mode: 'lag' | 'rate', desired: number[], outstanding: number[]): Summary {
  const scenario = buildScenario(20);
  const timeline = desired.map((d, t) => sample({ t, desired: d, running: d, outstanding: outstanding[t]!, lagSeconds: outstanding[t]! / 100 }));
  const replicas = { min: 1, max: 6, peakDuringBurst: 5, peakRunning: 5, peakDesired: 5, atEnd: 1 };
  const counts = { published: 0, publishFailed: 0, poisonPublished: 0, entriesAdded: 0, processed: 0, duplicates: 0, deadLettered: 0, unfinished: 0, lost: 0 };
  return {
    runId: 'r', outcome: 'completed', ok: true, exitCode: 0, startedAt: '', endedAt: '', elapsedS: 20, redis: '', stream: 's', group: 'g', deadLetterStream: 's:dlq',
    config: { durationS: 20, scalingMode: mode, minReplicas: 1, maxReplicas: 6, tuning: scenario.tuning, phases: scenario.phases, services: {} },
    counts, group_at_end: { entriesRead: null, lag: null, pending: null, consumers: null }, replicas, checks: [], processes: { started: [], orphans: [] }, sourceErrors: {}, timeline,
  };
}

describe('DEMO_SCALING=both', () => {
  test.each<[string, number, number[]]>([
    ['up then steady', 0, [1, 2, 3, 4, 4, 4, 4]],
    ['up, down in the middle, up again', 2, [1, 3, 5, 5, 3, 3, 5, 5]],
    ['down once after going up before the window', 1, [1, 5, 5, 4, 4]],
  ])('reversals: %s → %p', (_name, expected, values) => {
    const rows = values.map((v, t) => sample({ t, desired: v }));
    expect(reversals(rows, (s) => s.desired, 0, 100)).toBe(expected);
  });

  test('figures of a run: direction changes in the burst, age p99, max backlog, replica-seconds, drain', () => {
    // DEMO_DURATION=20: burst from 8 s to 12 s; the lag run drops to 3 in the middle and comes back.
    const lag = figuresOf(summaryOf('lag', [1, 1, 1, 1, 1, 2, 3, 5, 5, 5, 3, 5, 5, 5, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 10, 60, 200, 250, 40, 10, 270, 90, 20, 0, 0, 0, 0, 0, 0, 0]));
    const rate = figuresOf(summaryOf('rate', [1, 1, 1, 1, 1, 2, 3, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 10, 60, 200, 250, 40, 10, 10, 10, 10, 0, 0, 0, 0, 0, 0, 0]));
    expect(lag).toMatchObject({ mode: 'lag', directionChanges: 2, maxBacklog: 270 });
    expect(rate).toMatchObject({ mode: 'rate', directionChanges: 0, maxBacklog: 250 });
    expect(rate.replicaSeconds).toBeGreaterThan(lag.replicaSeconds);
    expect(lag.ageP99S).toBeCloseTo(2.7);
  });

  test('side by side on the same axes, written as chart.png, index.html and summary.json', () => {
    const a = summaryOf('lag', [1, 5, 2, 5], [0, 900, 10, 50]);
    const b = summaryOf('rate', [1, 5, 5, 5], [0, 100, 10, 5]);
    const opts = (title: string) => ({ title, subtitle: '', phases: [], minReplicas: 1, maxReplicas: 6 });
    const svg = renderSideBySide([{ samples: a.timeline, options: opts('A') }, { samples: b.timeline, options: opts('B') }]);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="2000"/);
    expect(svg).toContain('<svg x="1000" y="0"');
    // The backlog axis of the rate run goes to the lag run's 900 (shared scale): its top tick label is in both halves.
    expect(svg.split('>1000</text>').length - 1).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), 'demo-both-'));
    try {
      const files = writeComparison(dir, [a, b]);
      expect(readFileSync(files.png).subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(readFileSync(files.html, 'utf8')).toContain('SCALING_MODE=rate');
      expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ scaling: 'both', runs: [{ mode: 'lag' }, { mode: 'rate' }] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('DEMO_SCALING takes lag, rate or both (default lag) and names a bad value', () => {
    expect(demoConfig.parse({}).scaling).toBe('lag');
    expect(demoConfig.parse({ DEMO_SCALING: 'both' }).scaling).toBe('both');
    expect(() => demoConfig.parse({ DEMO_SCALING: 'fast' })).toThrow(/DEMO_SCALING/);
  });
});
