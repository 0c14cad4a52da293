import {
  ScaleDecider,
  desiredReplicas,
  isActive,
  outstandingOf,
  rawDesiredReplicas,
  scaleUpLimit,
  scalingPolicy,
  type ScaleDecision,
  type ScalingPolicy,
} from '../src/scaling/index';

const S = 1000;

/** Runs a decider over (second, outstanding|undefined) steps, applying each decision, and returns the decisions. */
function run(policy: Partial<ScalingPolicy> & { targetPerReplica: number }, steps: Array<[number, number | undefined]>, start = 0): ScaleDecision[] {
  const d = new ScaleDecider(policy);
  let replicas = start;
  return steps.map(([t, outstanding]) => {
    const decision = d.decide({ nowMs: t * S, currentReplicas: replicas, outstanding });
    replicas = decision.desired;
    return decision;
  });
}

describe('replica math (pure functions)', () => {
  test.each([
    // outstanding, target, min, max, desired
    [0, 100, 0, 20, 0],
    [1, 100, 0, 20, 1],
    [100, 100, 0, 20, 1],
    [101, 100, 0, 20, 2],
    [1999, 100, 0, 20, 20],
    [1_000_000, 100, 0, 20, 20], // clamp to max
    [0, 100, 3, 20, 3], // clamp to min
    [250, 100, 3, 20, 3],
    [301, 100, 3, 20, 4],
    [5, 2.5, 0, 20, 2], // fractional target
  ])('desired(outstanding=%p, target=%p, min=%p, max=%p) = %p', (outstanding, targetPerReplica, minReplicas, maxReplicas, expected) => {
    expect(desiredReplicas(outstanding, { targetPerReplica, minReplicas, maxReplicas })).toBe(expected);
  });

  test.each([
    [0, 0, false],
    [1, 0, true],
    [10, 10, false], // outstanding = ACTIVATION stays inactive
    [11, 10, true],
  ])('isActive(outstanding=%p, activation=%p) = %p', (outstanding, activation, expected) => {
    expect(isActive(outstanding, activation)).toBe(expected);
  });

  test.each([
    [0, 4], // from zero: +4
    [1, 5], // +4 beats +100 %
    [4, 8], // equal
    [10, 20], // +100 % beats +4
    [33, 66],
  ])('scale-up limit from %p replicas at period start = %p (HPA default: max(+4, +100 %%))', (start, limit) => {
    expect(scaleUpLimit(start, { scaleUpPods: 4, scaleUpPercent: 100 })).toBe(limit);
  });

  test('outstanding of a backlog: lag+pending; a missing group counts the whole stream; a missing stream is 0', () => {
    expect(outstandingOf({ status: 'ok', backlog: { outstanding: 42 } })).toBe(42);
    expect(outstandingOf({ status: 'no-group', streamLength: 500 })).toBe(500);
    expect(outstandingOf({ status: 'no-stream' })).toBe(0);
  });

  test('rawDesiredReplicas never goes negative or NaN', () => {
    expect(rawDesiredReplicas(-5, 10)).toBe(0);
    expect(rawDesiredReplicas(Number.NaN, 10)).toBe(0);
  });

  test.each([
    [{ targetPerReplica: 0 }, /targetPerReplica=0/],
    [{ targetPerReplica: 1, maxReplicas: 0 }, /maxReplicas=0/],
    [{ targetPerReplica: 1, minReplicas: 5, maxReplicas: 4 }, /maxReplicas=4/],
    [{ targetPerReplica: 1, minReplicas: -1 }, /minReplicas=-1/],
    [{ targetPerReplica: 1, fallbackReplicas: 0 }, /fallbackReplicas=0/],
    [{ targetPerReplica: 1, scaleUpPods: 0, scaleUpPercent: 0 }, /nothing could ever scale up/],
  ])('invalid policy %p is rejected', (partial, message) => {
    expect(() => scalingPolicy(partial)).toThrow(message);
  });

  test('defaults are the HPA/KEDA ones from docs/design.md ("Scaling")', () => {
    expect(scalingPolicy({ targetPerReplica: 100 })).toEqual({
      targetPerReplica: 100, activation: 0, minReplicas: 0, maxReplicas: 20, cooldownS: 300, scaleDownWindowS: 300,
      scaleUpPods: 4, scaleUpPercent: 100, scaleUpPeriodS: 15, fallbackReplicas: undefined,
    });
  });
});

describe('ScaleDecider (simulated clock)', () => {
  const base = { targetPerReplica: 100, cooldownS: 60, scaleDownWindowS: 30 };

  test('activation edge: outstanding = ACTIVATION stays at 0, one more activates', () => {
    const r = run({ ...base, activation: 50 }, [[0, 50], [5, 50], [10, 51]]);
    expect(r.map((d) => d.desired)).toEqual([0, 0, 1]);
    expect(r[0]!.reason).toBe('inactive');
    expect(r[2]!.active).toBe(true);
  });

  test('below activation but above 0 with replicas running: no scale to zero before the cooldown', () => {
    // Replicas run (activated earlier); the backlog stays at ≤ ACTIVATION: the HPA part keeps ≥ 1 until the cooldown.
    const r = run({ ...base, activation: 50 }, [[0, 500], [10, 40], [45, 40], [60, 40]]);
    expect(r.map((d) => d.desired)).toEqual([4, 4, 1, 0]);
    expect(r[3]!.reason).toBe('cooldown-elapsed');
  });

  test('cooldown: back to 0 only after COOLDOWN_S without activity, exactly at the boundary', () => {
    // Last activity at t=0; the window (30 s) holds 2 until t=30, the cooldown (60 s) keeps 1 until t=60.
    const r = run(base, [[0, 150], [5, 0], [29, 0], [30, 0], [59, 0], [60, 0]]);
    expect(r.map((d) => d.desired)).toEqual([2, 2, 2, 1, 1, 0]);
    expect(r[5]!.reason).toBe('cooldown-elapsed');
    expect(r[4]!.cooldownLeftS).toBeCloseTo(1, 5);
    expect(r[3]!.limitedBy).toContain('cooldown-floor');
  });

  test('cooldown restarts with every activity', () => {
    const r = run(base, [[0, 100], [50, 1], [100, 0], [109, 0], [110, 0]]);
    expect(r.map((d) => d.desired)).toEqual([1, 1, 1, 1, 0]);
  });

  test('stabilization window: scale-down takes the highest recommendation of SCALE_DOWN_WINDOW_S', () => {
    const r = run(base, [[0, 1000], [10, 200], [20, 500], [30, 100], [40, 100], [50, 100], [55, 100]]);
    // recommendations: 10, 2, 5, 1, 1, 1, 1; window 30 s: (t-30, t]
    expect(r.map((d) => d.recommendation)).toEqual([10, 2, 5, 1, 1, 1, 1]);
    expect(r.map((d) => d.desired)).toEqual([4, 4, 5, 5, 5, 1, 1]);
    expect(r[1]!.limitedBy).toEqual(['scale-down-window']);
  });

  test('scale-up is immediate but limited per 15 s to max(+4, +100 %)', () => {
    const steps: Array<[number, number]> = [0, 5, 10, 15, 20, 30, 45, 60].map((t) => [t, 10_000]);
    const r = run({ ...base, maxReplicas: 50 }, steps);
    // 0 → 4 (+4); next period starts with 4 → 8; then 16, 32, 50 (max)
    expect(r.map((d) => d.desired)).toEqual([4, 4, 4, 8, 8, 16, 32, 50]);
    expect(r[0]!.limitedBy).toContain('scale-up-rate');
    expect(r[7]!.limitedBy).toContain('max');
  });

  test('scale-up limit counts from the replicas at the start of the period (10 → 20 → 40)', () => {
    const r = run({ ...base, maxReplicas: 100 }, [[0, 100_000], [15, 100_000], [30, 100_000]], 10);
    expect(r.map((d) => d.desired)).toEqual([20, 40, 80]);
  });

  test('clamps: MIN_REPLICAS > 0 never goes to 0 (no cooldown), MAX_REPLICAS caps', () => {
    const r = run({ ...base, minReplicas: 2, maxReplicas: 3 }, [[0, 0], [15, 100_000], [20, 0], [1000, 0]]);
    expect(r.map((d) => d.desired)).toEqual([2, 3, 3, 2]);
    expect(r[0]!.limitedBy).toContain('min');
  });

  test('missing data: the current count is held, never scaled to zero, even past the cooldown', () => {
    const r = run(base, [[0, 500], [10, undefined], [100, undefined], [1000, undefined]]);
    expect(r.map((d) => d.desired)).toEqual([4, 4, 4, 4]);
    expect(r[3]!.reason).toBe('no-data-hold');
  });

  test('missing data with FALLBACK_REPLICAS: the fallback count (clamped), then back to the metric', () => {
    const r = run({ ...base, fallbackReplicas: 3, maxReplicas: 20 }, [[0, 1000], [15, undefined], [30, 1000]]);
    // back to the metric (10) but rate-limited from the 3 the period started with: max(3+4, 3×2) = 7
    expect(r.map((d) => d.desired)).toEqual([4, 3, 7]);
    expect(r[1]!.reason).toBe('no-data-fallback');
    const low = run({ ...base, fallbackReplicas: 50, maxReplicas: 5 }, [[0, undefined]]);
    expect(low[0]!.desired).toBe(5);
  });

  test('missing data at 0 replicas stays at 0 (no activation without a signal)', () => {
    const r = run(base, [[0, undefined], [100, undefined]]);
    expect(r.map((d) => d.desired)).toEqual([0, 0]);
  });

  test('a missing group activates from zero (the whole stream counts), a missing stream does not', () => {
    const d = new ScaleDecider(base);
    expect(d.decide({ nowMs: 0, currentReplicas: 0, outstanding: outstandingOf({ status: 'no-group', streamLength: 250 }) }).desired).toBe(3);
    const e = new ScaleDecider(base);
    expect(e.decide({ nowMs: 0, currentReplicas: 0, outstanding: outstandingOf({ status: 'no-stream' }) }).desired).toBe(0);
  });

  test('a manual scale is overridden at the next decision (as the HPA does)', () => {
    const d = new ScaleDecider(base);
    d.decide({ nowMs: 0, currentReplicas: 0, outstanding: 300 }); // → 3
    d.decide({ nowMs: 5 * S, currentReplicas: 3, outstanding: 300 });
    const after = d.decide({ nowMs: 10 * S, currentReplicas: 10, outstanding: 300 }); // someone ran kubectl scale --replicas=10
    expect(after.desired).toBe(3);
    expect(after.direction).toBe('down');
  });

  test('a restarted autoscaler does not scale down before a full window (window seeded with the current count)', () => {
    const r = run(base, [[0, 100], [10, 100], [29, 100], [30, 100]], 8);
    expect(r.map((d) => d.desired)).toEqual([8, 8, 8, 1]);
  });

  test('a clock going backwards is treated as no time passing', () => {
    const d = new ScaleDecider(base);
    d.decide({ nowMs: 100 * S, currentReplicas: 2, outstanding: 0 });
    const back = d.decide({ nowMs: 0, currentReplicas: 2, outstanding: 0 });
    expect(back.desired).toBe(2);
    expect(back.idleS).toBe(0);
  });
});
