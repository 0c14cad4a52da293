/**
 * The load generator's pacing without wall-clock timings (issue 13): `pace` runs on a virtual clock
 * (a sleep advances it at once) and sends to an in-memory sink instead of Redis or HTTP (the sink is
 * not the subject here; load-and-process.test.ts runs the CLI against real Redis). Each 0.5 s of
 * virtual time must hold the shape's integral over it, within one batch and the pacing's step.
 */
import { Batches, LOAD_SHAPES, loadSettings, pace, shapeRate, type LoadShape } from '../src/load/run-load';

interface Paced {
  /** Virtual time (ms) at which each event was handed to the sink. */
  at: number[];
  batches: Batches;
}

async function paced(shape: LoadShape, rate: number, durationS: number, extra: { maxEvents?: number } = {}): Promise<Paced> {
  let nowMs = 0;
  const at: number[] = [];
  const settings = loadSettings({ rate, durationS, shape, batch: 20, concurrency: 16, via: 'redis', stream: 'unused', ...extra });
  const batches = new Batches(settings, async (events) => {
    for (let i = 0; i < events.length; i++) at.push(nowMs);
  });
  await pace(batches, settings, {}, {
    elapsedS: () => nowMs / 1000,
    sleep: async (ms) => {
      nowMs += ms;
    },
  });
  await batches.drain(1000);
  return { at, batches };
}

/** The shape's integral over [from, to) seconds (1 ms steps). */
function integral(shape: LoadShape, rate: number, durationS: number, from: number, to: number): number {
  let sum = 0;
  for (let t = from; t < to; t += 0.001) sum += shapeRate(shape, rate, t, durationS) * 0.001;
  return sum;
}

test.each(LOAD_SHAPES.map((s) => [s]))('%s: every 0.5 s of the run holds the shape\'s integral over it (± one batch and the pacing step); nothing is sent after the duration', async (shape) => {
  const rate = 2000;
  const durationS = shape === 'burst' ? 20 : 8;
  const { at, batches } = await paced(shape, rate, durationS);
  expect(batches.errors).toBe(0);
  expect(batches.acked).toBe(at.length);
  expect(Math.max(...at)).toBeLessThan(durationS * 1000);
  const bins = new Array<number>(durationS * 2).fill(0);
  for (const t of at) bins[Math.floor(t / 500)]! += 1;
  const off = bins.map((n, i) => ({ bin: i, n, expected: Math.round(integral(shape, rate, durationS, i / 2, (i + 1) / 2)) })).filter((b) => Math.abs(b.n - b.expected) > 20 + 0.05 * b.expected);
  expect(off).toEqual([]);
  expect(Math.abs(at.length - integral(shape, rate, durationS, 0, durationS))).toBeLessThanOrEqual(40);
});

test('waves: troughs at 10 % of the peak (t = 0, 4, 8 s), peaks at 100 % (t = 2, 6 s) for an 8 s run', async () => {
  const { at } = await paced('waves', 2000, 8);
  const per100ms = new Array<number>(80).fill(0);
  for (const t of at) per100ms[Math.floor(t / 100)]! += 1;
  // ≈ 200 events per 100 ms at the peaks, ≈ 20 at the troughs.
  for (const peak of [20, 60]) expect(per100ms[peak]).toBeGreaterThanOrEqual(180);
  for (const trough of [0, 40, 79]) expect(per100ms[trough]).toBeLessThanOrEqual(40);
});

test('maxEvents stops the run at exactly that many events', async () => {
  const { at, batches } = await paced('steady', 2000, 8, { maxEvents: 1234 });
  expect(at).toHaveLength(1234);
  expect(batches.sent).toBe(1234);
});
