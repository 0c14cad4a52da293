import {
  RateEstimator,
  ScaleDecider,
  processedBetween,
  rateDesiredReplicas,
  ratePolicy,
  type CounterSample,
} from '../src/scaling/index';

const S = 1000;

describe('rate mode replica math (pure)', () => {
  test.each([
    // arrival λ, μ per replica, waiting B, drainS, lagObjectiveS, expected
    [600, 150, 0, 30, undefined, 4], // steady burst that 4 replicas keep up with: exactly 4, not 5
    [600, 150, 300, 30, undefined, 5], // + 300 waiting, drained in 30 s: (600 + 10) / 150 = 4.07 → 5
    [600, 150, 3000, 30, undefined, 5], // (600 + 100) / 150 = 4.67
    [600, 150, 3000, 10, undefined, 6], // (600 + 300) / 150 = 6
    [600, 150, 3000, 30, 2, 10], // age objective 2 s: 3000 / (150 · 2) = 10 wins over 4.67
    [600, 150, 0, 30, 2, 4], // no backlog: the age objective adds nothing
    [15, 150, 0, 30, undefined, 1], // a trickle: one replica
    [0, 150, 0, 30, undefined, 0], // nothing arrives, nothing waits
    [0, 150, 1, 30, undefined, 1], // one entry waiting
    [-5, 150, 0, 30, undefined, 0], // a negative rate (counter noise) counts as 0
  ])('λ=%p μ=%p B=%p drain=%p lag=%p → %p', (arrivalRate, mu, waiting, targetDrainS, targetLagSeconds, expected) => {
    expect(rateDesiredReplicas({ arrivalRate, servicePerReplica: mu, waiting }, { targetDrainS, targetLagSeconds })).toBe(expected);
  });

  test.each([[undefined], [0], [-1], [NaN]])('μ=%p (not measured) gives undefined: the caller falls back to the lag count', (mu) => {
    expect(rateDesiredReplicas({ arrivalRate: 600, servicePerReplica: mu, waiting: 100 }, { targetDrainS: 30, targetLagSeconds: undefined })).toBeUndefined();
  });

  test('ratePolicy fills defaults and names the bad field', () => {
    expect(ratePolicy()).toEqual({ targetDrainS: 30, targetLagSeconds: undefined, rateWindowS: 5 });
    expect(() => ratePolicy({ targetDrainS: 0 })).toThrow(/targetDrainS=0/);
    expect(() => ratePolicy({ targetLagSeconds: -1 })).toThrow(/targetLagSeconds=-1/);
    expect(() => ratePolicy({ rateWindowS: NaN })).toThrow(/rateWindowS=NaN/);
  });

  test('processed = Δ(entries-read − pending), never negative', () => {
    const a: CounterSample = { t: 0, added: 100, read: 100, pending: 50, lag: 0, replicas: 1 };
    expect(processedBetween(a, { ...a, t: 1000, read: 200, pending: 30 })).toBe(120);
    expect(processedBetween(a, { ...a, t: 1000, read: 100, pending: 80 })).toBe(0);
  });
});

/** Samples every second: `replicas` workers of `mu`/s each under arrivals `lambda`/s, starting with `backlog` waiting. */
function simulate(est: RateEstimator, steps: Array<{ s: number; lambda: number; replicas: number; mu: number }>, backlog0 = 0) {
  let added = 0;
  let read = 0;
  let backlog = backlog0;
  added += backlog0;
  const out = [];
  for (const { s, lambda, replicas, mu } of steps) {
    added += lambda;
    backlog += lambda;
    const done = Math.min(backlog, replicas * mu);
    backlog -= done;
    read += done;
    out.push(est.add({ t: s * S, added, read, pending: 0, lag: backlog, replicas }));
  }
  return out;
}

describe('RateEstimator (injected clock, simulated counters)', () => {
  test('measures λ at once and μ only from a full saturated window with constant replicas', () => {
    const est = new RateEstimator(5);
    const steps = Array.from({ length: 8 }, (_, i) => ({ s: i, lambda: 400, replicas: 2, mu: 150 }));
    const r = simulate(est, steps);
    expect(r[1]!.arrivalRate).toBe(400);
    expect(r[1]!.servicePerReplica).toBeUndefined(); // window not full yet
    expect(r[5]!.saturated).toBe(true);
    expect(r[5]!.servicePerReplica).toBeCloseTo(150);
    expect(r[7]!.processedRate).toBeCloseTo(300);
  });

  test('λ follows a step up at the next sample and comes down with the window', () => {
    const est = new RateEstimator(4);
    const steps = [0, 1, 2, 3, 4].map((s) => ({ s, lambda: 100, replicas: 4, mu: 150 }));
    simulate(est, steps);
    const up = est.add({ t: 5000, added: 500 + 600, read: 1100, pending: 0, lag: 0, replicas: 4 });
    expect(up.arrivalRate).toBe(600);
    const down = est.add({ t: 6000, added: 1100 + 100, read: 1200, pending: 0, lag: 0, replicas: 4 });
    expect(down.arrivalRate).toBe(225); // (1200 − 300) / 4 s over the window, above the last interval's 100
  });

  test('an idle window does not lower μ; a busier unsaturated one raises it (a lower bound)', () => {
    const est = new RateEstimator(3);
    simulate(est, Array.from({ length: 5 }, (_, i) => ({ s: i, lambda: 400, replicas: 2, mu: 150 })));
    expect(est.servicePerReplica).toBeCloseTo(150);
    simulate(est, Array.from({ length: 5 }, (_, i) => ({ s: 10 + i, lambda: 20, replicas: 2, mu: 150 })));
    expect(est.servicePerReplica).toBeCloseTo(150);
  });

  test('a window in which the replica count changed measures nothing', () => {
    const est = new RateEstimator(3);
    const r = simulate(est, [0, 1, 2, 3, 4].map((s) => ({ s, lambda: 900, replicas: s < 2 ? 2 : 4, mu: 150 })));
    expect(r.every((x) => x.servicePerReplica === undefined)).toBe(true);
  });

  test('counters going backwards (stream re-created) restart the window', () => {
    const est = new RateEstimator(3);
    est.add({ t: 0, added: 1000, read: 1000, pending: 0, lag: 0, replicas: 1 });
    est.add({ t: 1000, added: 1100, read: 1100, pending: 0, lag: 0, replicas: 1 });
    const r = est.add({ t: 2000, added: 5, read: 5, pending: 0, lag: 0, replicas: 1 });
    expect(r.arrivalRate).toBeUndefined();
  });
});

describe('ScaleDecider with the rate mode count', () => {
  test('steady burst: the rate count holds while outstanding stays near 0 (the lag count would fall)', () => {
    const d = new ScaleDecider({ targetPerReplica: 50, minReplicas: 1, maxReplicas: 10, scaleDownWindowS: 5 });
    let replicas = 4;
    const seen: number[] = [];
    for (let s = 0; s < 30; s++) {
      const raw = rateDesiredReplicas({ arrivalRate: 600, servicePerReplica: 150, waiting: 0 }, { targetDrainS: 30, targetLagSeconds: undefined });
      replicas = d.decide({ nowMs: s * S, currentReplicas: replicas, outstanding: 20, raw, busy: true }).desired;
      seen.push(replicas);
    }
    expect(new Set(seen)).toEqual(new Set([4]));
    // The same inputs in the lag mode fall to ceil(20/50) = 1 after the window.
    const lag = new ScaleDecider({ targetPerReplica: 50, minReplicas: 1, maxReplicas: 10, scaleDownWindowS: 5 });
    let r2 = 4;
    for (let s = 0; s < 30; s++) r2 = lag.decide({ nowMs: s * S, currentReplicas: r2, outstanding: 20 }).desired;
    expect(r2).toBe(1);
  });

  test('busy keeps replicas from cooling down to 0 but never activates from 0', () => {
    const d = new ScaleDecider({ targetPerReplica: 50, minReplicas: 0, cooldownS: 2, scaleDownWindowS: 0 });
    expect(d.decide({ nowMs: 0, currentReplicas: 0, outstanding: 0, raw: 1, busy: true }).desired).toBe(0);
    const up = d.decide({ nowMs: 1 * S, currentReplicas: 0, outstanding: 3, raw: 1, busy: true });
    expect(up.desired).toBe(1);
    const held = d.decide({ nowMs: 10 * S, currentReplicas: 1, outstanding: 0, raw: 1, busy: true });
    expect(held).toMatchObject({ desired: 1, active: true });
    const cooled = d.decide({ nowMs: 20 * S, currentReplicas: 1, outstanding: 0, raw: 0, busy: false });
    expect(cooled).toMatchObject({ desired: 0, reason: 'cooldown-elapsed' });
  });

  test('the rate count gets the same max bound and scale-up rate limit', () => {
    const d = new ScaleDecider({ targetPerReplica: 50, minReplicas: 1, maxReplicas: 6 });
    const first = d.decide({ nowMs: 0, currentReplicas: 1, outstanding: 10, raw: 40 });
    expect(first.desired).toBe(5); // +4 pods per period
    expect(first.limitedBy).toEqual(expect.arrayContaining(['max', 'scale-up-rate']));
  });
});
