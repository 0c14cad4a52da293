/** The demo's pure parts: scenario, Prometheus text parsing, accounting checks, chart, live view. */
import { PassThrough } from 'node:stream';
import { buildScenario, phaseAt, rateAt } from '../demo/src/scenario';
import { parsePromText, sumOf } from '../demo/src/prom-text';
import { checksOf, lostOf, replicasOf } from '../demo/src/summary';
import { niceScale, renderChart } from '../demo/src/chart';
import { svgToPng } from '../demo/src/report';
import { LiveView, plainLine } from '../demo/src/live-view';
import type { Sample } from '../demo/src/sample';
import { GeneratorLoad, batchOf, shapeOf } from '../demo/src/generator-load';

const sample = (over: Partial<Sample>): Sample => ({
  t: 0, phase: 'quiet', published: 0, added: 0, processed: 0, deadLetters: 0, inRate: 10, outRate: 10, outstanding: 3, lag: 0, pending: 3,
  lagSeconds: 0, oldestPendingSeconds: 0.1, consumers: 1, desired: 1, current: 1, running: 1, ...over,
});

describe('scenario', () => {
  it.each([20, 120, 600])('covers DEMO_DURATION=%i with quiet, ramp, burst, cooldown in order', (d) => {
    const s = buildScenario(d);
    expect(s.phases.map((p) => p.name)).toEqual(['quiet', 'ramp', 'burst', 'cooldown']);
    expect(s.totalS).toBeCloseTo(d, 0);
    for (let i = 1; i < s.phases.length; i++) expect(s.phases[i]!.startS).toBeCloseTo(s.phases[i - 1]!.startS + s.phases[i - 1]!.durationS, 5);
    expect(s.poison).toBeGreaterThan(0);
  });

  it('bursts above what the workers take at once at MIN and within MAX, and scales down within the last quiet phase', () => {
    const s = buildScenario(20);
    const burst = s.phases.find((p) => p.name === 'burst')!;
    const cooldown = s.phases.find((p) => p.name === 'cooldown')!;
    expect(burst.fromRate).toBeGreaterThan(s.tuning.perWorkerRate * 2);
    expect(burst.fromRate).toBeLessThan(s.tuning.perWorkerRate * 6);
    expect(s.tuning.scaleDownWindowS).toBeLessThan(cooldown.durationS / 2);
  });

  it('interpolates the rate within a phase', () => {
    const s = buildScenario(100);
    const ramp = s.phases.find((p) => p.name === 'ramp')!;
    expect(phaseAt(s, ramp.startS + 1).name).toBe('ramp');
    expect(rateAt(s, ramp.startS)).toBeCloseTo(ramp.fromRate);
    expect(rateAt(s, ramp.startS + ramp.durationS / 2)).toBeCloseTo((ramp.fromRate + ramp.toRate) / 2);
    expect(phaseAt(s, 10_000).name).toBe('cooldown');
  });
});

describe('Prometheus text', () => {
  const text = [
    '# HELP stream_workers_autoscaler_desired_replicas x',
    '# TYPE stream_workers_autoscaler_desired_replicas gauge',
    'stream_workers_autoscaler_desired_replicas{stream="events",group="workers"} 4',
    'stream_workers_events_processed_total{outcome="ok",label="a \\"q\\" b"} 10',
    'stream_workers_events_processed_total{outcome="retry"} 2',
    'up 1 1700000000000',
  ].join('\n');

  it('sums matching series and tells a missing series from 0', () => {
    const s = parsePromText(text);
    expect(sumOf(s, 'stream_workers_autoscaler_desired_replicas')).toBe(4);
    expect(sumOf(s, 'stream_workers_events_processed_total')).toBe(12);
    expect(sumOf(s, 'stream_workers_events_processed_total', { outcome: 'ok' })).toBe(10);
    expect(s.find((x) => x.labels.outcome === 'ok')!.labels.label).toBe('a "q" b');
    expect(sumOf(s, 'stream_workers_autoscaler_current_replicas')).toBeUndefined();
    expect(sumOf(s, 'up')).toBe(1);
  });
});

describe('accounting', () => {
  const base = { published: 100, publishFailed: 0, poisonPublished: 2, entriesAdded: 100, processed: 98, duplicates: 1, deadLettered: 2, unfinished: 0 };

  it('counts lost as published − processed − dead-lettered − unfinished', () => {
    expect(lostOf(base)).toBe(0);
    expect(lostOf({ ...base, processed: 95 })).toBe(3);
    expect(lostOf({ ...base, processed: 95, unfinished: 3 })).toBe(0);
  });

  it('fails the checks of a completed run that lost events, kept a backlog or did not scale', () => {
    const replicas = { min: 1, max: 6, peakDuringBurst: 4, peakRunning: 4, peakDesired: 6, atEnd: 1 };
    const processes = { started: [], orphans: [] };
    const good = checksOf({ counts: { ...base, lost: 0 }, replicas, processes, outcome: 'completed' });
    expect(good.every((c) => c.ok)).toBe(true);
    const bad = checksOf({ counts: { ...base, processed: 90, lost: 8 }, replicas: { ...replicas, peakDuringBurst: 1, atEnd: 3 }, processes: { started: [], orphans: [{ name: 'w', pid: 1 }] }, outcome: 'completed' });
    expect(bad.filter((c) => !c.ok).map((c) => c.name)).toEqual(['nothing lost', 'no process left running', 'scaled above the minimum during the burst', 'back at the minimum at the end']);
    // An interrupted run is not asked to have drained or scaled.
    expect(checksOf({ counts: { ...base, unfinished: 5, processed: 93, lost: 0 }, replicas, processes, outcome: 'interrupted' }).map((c) => c.name)).not.toContain('backlog drained');
  });

  it('takes the replica figures from the timeline', () => {
    const tl = [sample({ phase: 'quiet', running: 1 }), sample({ phase: 'burst', running: 5, desired: 6 }), sample({ phase: 'cooldown', running: 6 }), sample({ phase: 'drain', running: 1 }), sample({ phase: 'stopping', running: 0 })];
    expect(replicasOf(tl, 1, 6)).toEqual({ min: 1, max: 6, peakDuringBurst: 5, peakRunning: 6, peakDesired: 6, atEnd: 1 });
  });
});

describe('chart', () => {
  it('picks readable axis steps', () => {
    expect(niceScale(0)).toEqual({ top: 1, step: 1 });
    expect(niceScale(430)).toEqual({ top: 600, step: 200 });
    expect(niceScale(90)).toEqual({ top: 100, step: 25 });
    expect(niceScale(6, 4)).toEqual({ top: 6, step: 2 });
  });

  it('draws the series, the phases and gaps for missing values, and renders to PNG', () => {
    const tl = Array.from({ length: 30 }, (_, t) => sample({ t, phase: t < 10 ? 'quiet' : 'burst', outstanding: t === 15 ? null : t * 10, running: t < 12 ? 1 : 4, desired: t < 11 ? 1 : 5 }));
    const svg = renderChart(tl, { title: 'T <&>', subtitle: 's', phases: [{ name: 'quiet', startS: 0, endS: 10 }, { name: 'burst', startS: 10, endS: 30 }], minReplicas: 1, maxReplicas: 6 });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('T &lt;&amp;&gt;');
    expect(svg).toContain('>burst</text>');
    // Outstanding has a gap at t=15: two path segments for the backlog line.
    expect(svg.match(/stroke="#457b9d"/g)!.length).toBe(3); // 2 segments + the legend
    const png = svgToPng(svg);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  });
});

describe('live view', () => {
  it('prints one plain line per sample without escape codes', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const v = new LiveView({ mode: 'plain', out, totalS: 20, minReplicas: 1, maxReplicas: 6, poison: 3 });
    v.update(sample({ t: 3, inRate: 12.4, outstanding: 7, desired: 2, running: 1, deadLetters: 1 }));
    v.update(sample({ t: 4 }));
    v.close();
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
    expect(text).toContain('t=3s phase=quiet in=12/s out=10/s outstanding=7');
    expect(text).toContain('replicas desired=2 running=1 dead_letters=1');
    expect(text).not.toContain('\x1b[');
    expect(plainLine(sample({ outstanding: null }))).toContain('outstanding=–');
  });

  it('redraws the table in place on a terminal and keeps messages above it', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const v = new LiveView({ mode: 'tty', out, totalS: 20, minReplicas: 1, maxReplicas: 6, poison: 3 });
    v.update(sample({ t: 1 }));
    v.message('hello');
    v.update(sample({ t: 2, running: 3 }));
    v.close();
    // eslint-disable-next-line no-control-regex -- the terminal escapes (ESC) are what this test looks for
    expect(text.match(/\x1b\[9A\x1b\[0J/g)!.length).toBe(2); // cleared before the message and before the second table
    expect(text).toContain('hello\n');
    expect(text).toContain('■■■□□□');
    expect(text.endsWith('\x1b[?25h')).toBe(true);
  });
});

describe('load phases (load generator double: records the options it gets)', () => {
  it('runs one generator per phase (steady or ramp), poison as a bounded run, and sums what was acknowledged', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const load = new GeneratorLoad({
      producerUrl: 'http://127.0.0.1:1',
      stream: 's',
      poisonType: 'demo.poison',
      run: async (o) => {
        calls.push({ ...o, signal: undefined, onProgress: undefined });
        const acked = o.maxEvents ?? Math.round(o.rate * o.durationS);
        return { sent: acked + 1, acked, errors: 1, durationS: o.durationS, rate: o.rate, errorSamples: ['HTTP 503'] };
      },
    });
    const s = buildScenario(10);
    const phases = s.phases.map((p) => ({ ...p, durationS: 0.02 }));
    const seen: string[] = [];
    await load.run(phases, new AbortController().signal, (p) => seen.push(p.name));
    expect(seen).toEqual(['quiet', 'ramp', 'burst', 'cooldown']);
    const poison = calls.filter((c) => c.poisonEvery === 1);
    expect(poison.map((c) => c.maxEvents)).toEqual([1, 2]);
    expect(calls.filter((c) => c.poisonEvery === undefined).map((c) => c.shape)).toEqual(['steady', 'ramp', 'steady', 'steady']);
    expect(calls.every((c) => c.via === 'http' && c.stream === 's')).toBe(true);
    expect(load.counts().poison).toBe(3);
    expect(load.counts().failed).toBe(6);
    expect(load.lastError()).toBe('HTTP 503');
    expect(shapeOf(s.phases[1]!)).toEqual({ shape: 'ramp', rate: s.phases[1]!.toRate });
    expect(batchOf(15)).toBe(1);
    expect(batchOf(600)).toBe(30);
  });

  it('starts nothing once aborted', async () => {
    let n = 0;
    const load = new GeneratorLoad({ producerUrl: 'x', stream: 's', poisonType: 'p', run: async () => ((n += 1), { sent: 0, acked: 0, errors: 0, durationS: 0, rate: 0, errorSamples: [] }) });
    const ac = new AbortController();
    ac.abort();
    await load.run(buildScenario(10).phases, ac.signal, () => undefined);
    expect(n).toBe(0);
    expect(load.counts()).toEqual({ published: 0, failed: 0, poison: 0 });
  });
});
