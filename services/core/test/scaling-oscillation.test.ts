/**
 * No flapping: an oscillating backlog (a sine over 10 periods) fed to the decider with a simulated
 * clock gives at most the scale events the stabilization window allows. The naive controller
 * (desired = ceil(outstanding / target) at every poll, no window) is run on the same input for scale.
 */
import { ScaleDecider, desiredReplicas, scaleUpLimit, scalingPolicy, type ScalingPolicy } from '../src/scaling/index';

interface ScaleEvent {
  t: number;
  from: number;
  to: number;
}

const POLL_S = 5;

function simulate(policy: ScalingPolicy, periodS: number, periods: number, outstandingAt: (t: number) => number) {
  const decider = new ScaleDecider(policy);
  const events: ScaleEvent[] = [];
  const naive: ScaleEvent[] = [];
  let replicas = 0;
  let naiveReplicas = 0;
  const end = periodS * periods;
  let decisions = 0;
  for (let t = 0; t <= end; t += POLL_S) {
    const outstanding = outstandingAt(t);
    const d = decider.decide({ nowMs: t * 1000, currentReplicas: replicas, outstanding });
    decisions += 1;
    if (d.desired !== replicas) events.push({ t, from: replicas, to: d.desired });
    replicas = d.desired;
    const n = desiredReplicas(outstanding, policy);
    if (n !== naiveReplicas) naive.push({ t, from: naiveReplicas, to: n });
    naiveReplicas = n;
  }
  return { events, naive, decisions, end };
}

/** Steps the HPA's scale-up rate needs from 0 to `peak`: 0 → 4 → 8 → 16 → … */
function rampSteps(peak: number, policy: ScalingPolicy): number {
  let r = 0;
  let steps = 0;
  while (r < peak) {
    r = Math.min(peak, scaleUpLimit(r, policy));
    steps += 1;
  }
  return steps;
}

function reversalsUpToDown(events: ScaleEvent[]): number {
  let n = 0;
  for (let i = 1; i < events.length; i++) if (events[i - 1]!.to > events[i - 1]!.from && events[i]!.to < events[i]!.from) n += 1;
  return n;
}

/** Every scale-down must come at least one window after the last scale-up (the window holds that scale-up's recommendation). */
function windowViolations(events: ScaleEvent[], windowS: number): ScaleEvent[] {
  let lastUp = -Infinity;
  const out: ScaleEvent[] = [];
  for (const e of events) {
    if (e.to > e.from) lastUp = e.t;
    else if (e.t - lastUp < windowS) out.push(e);
  }
  return out;
}

function summary(events: ScaleEvent[]): string {
  const ups = events.filter((e) => e.to > e.from).length;
  return `${events.length} scale events (${ups} up, ${events.length - ups} down, ${reversalsUpToDown(events)} up→down reversals)`;
}

describe('no flapping under an oscillating backlog (simulated clock, 5 s polls)', () => {
  const policy = scalingPolicy({ targetPerReplica: 100, maxReplicas: 20 }); // window 300 s, cooldown 300 s
  const amplitude = 950;
  const sine = (periodS: number) => (t: number) => Math.round(1000 + amplitude * Math.sin((2 * Math.PI * t) / periodS));
  const windowS = policy.scaleDownWindowS;

  // What the window allows: a scale-down only when no higher recommendation is left in the last
  // SCALE_DOWN_WINDOW_S, so every scale-down comes ≥ one window after the last scale-up, and the number of
  // up→down reversals is at most duration / window. Scale-up is immediate (rate-limited) by design.

  test('period (120 s) shorter than the window (300 s): the count ramps up once and never comes down', () => {
    const periodS = 120;
    const { events, naive, decisions, end } = simulate(policy, periodS, 10, sine(periodS));
    const peak = desiredReplicas(1000 + amplitude, policy);
    const allowedReversals = Math.floor(end / windowS);
    console.log(
      `oscillation period ${periodS} s × 10 (${decisions} decisions, window ${windowS} s): ${summary(events)}; ` +
        `allowed: ≤ ${allowedReversals} reversals, none while a peak is in the window (so 0 here), ` +
        `monotone ramp 0 → ${peak} needing ≥ ${rampSteps(peak, policy)} rate-limited steps; naive controller: ${summary(naive)}\n` +
        `  events: ${events.map((e) => `t=${e.t}s ${e.from}→${e.to}`).join(', ')}`,
    );
    expect(windowViolations(events, windowS)).toEqual([]);
    expect(events.every((e) => e.to > e.from)).toBe(true); // no scale-down at all: a peak is always in the window
    expect(events.filter((e) => e.t >= 2 * periodS)).toEqual([]); // nothing changes once the peak count is reached
    expect(events.at(-1)!.to).toBe(peak);
    expect(reversalsUpToDown(naive)).toBeGreaterThanOrEqual(9); // the input really oscillates
  });

  test('period (900 s) longer than the window: it follows the load, every scale-down ≥ one window after the last scale-up', () => {
    const periodS = 900;
    const { events, naive, decisions, end } = simulate(policy, periodS, 10, sine(periodS));
    const reversals = reversalsUpToDown(events);
    const allowedReversals = Math.floor(end / windowS);
    console.log(
      `oscillation period ${periodS} s × 10 (${decisions} decisions, window ${windowS} s): ${summary(events)}; ` +
        `allowed: ≤ ${allowedReversals} reversals (duration / window); naive controller: ${summary(naive)}`,
    );
    expect(windowViolations(events, windowS)).toEqual([]);
    expect(reversals).toBeLessThanOrEqual(allowedReversals);
    expect(reversals).toBeLessThanOrEqual(10); // one down-phase per sine period, no flapping inside one
    expect(events.every((e) => e.to >= 1)).toBe(true); // the trough (50 outstanding) never reaches zero
  });

  test('noise around a level (±30 % every poll) causes no scale-down flapping', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const { events, naive, decisions, end } = simulate(policy, 600, 10, () => Math.round(1000 * (0.7 + 0.6 * rnd())));
    console.log(`noisy backlog 1000 ± 30 % for ${end} s (${decisions} decisions): ${summary(events)}; naive controller: ${summary(naive)}`);
    expect(events.every((e) => e.to > e.from)).toBe(true);
    expect(reversalsUpToDown(naive)).toBeGreaterThan(100);
  });
});
