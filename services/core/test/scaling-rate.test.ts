import {
  RateEstimator,
  arrivalRise,
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

  test.each([
    // λ, μ, current, expected: within 10 % of the current count (the HPA's tolerance) it stays
    [160, 32, 5, 5], // need 5.0 exactly: the throughput of 5 that barely keep up
    [160, 30, 5, 5], // need 5.33: noise in μ does not add a replica
    [160, 28, 5, 6], // need 5.71: 14 % above, a real shortfall
    [740, 40, 20, 20], // need 18.5 (0.925 of 20): within, kept (ceil would say 19)
    [700, 40, 20, 18], // need 17.5 (0.875 of 20): outside, down to 18
    [160, 40, 5, 4], // need 4.0: one fewer
    [30, 40, 1, 1], // need 0.75, but at 1 (ceil) anyway
    [160, 32, 0, 5], // from 0 the need is rounded up as usual
  ])('λ=%p μ=%p current=%p → %p (tolerance)', (arrivalRate, mu, current, expected) => {
    expect(rateDesiredReplicas({ arrivalRate, servicePerReplica: mu, waiting: 0 }, { targetDrainS: 30, targetLagSeconds: undefined }, current)).toBe(expected);
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

interface Step {
  s: number;
  lambda: number;
  /** Replicas the target reports. */
  replicas: number;
  mu: number;
  /** Replicas actually processing (new workers still starting); default `replicas`. */
  serving?: number;
}

/** Samples every second: `serving` workers of `mu`/s each under arrivals `lambda`/s, starting with `backlog0` waiting. */
function simulate(est: RateEstimator, steps: Step[], backlog0 = 0) {
  let added = backlog0;
  let read = 0;
  let backlog = backlog0;
  const out = [];
  for (const { s, lambda, replicas, mu, serving } of steps) {
    added += lambda;
    backlog += lambda;
    const done = Math.min(backlog, (serving ?? replicas) * mu);
    backlog -= done;
    read += done;
    out.push(est.add({ t: s * S, added, read, pending: 0, lag: backlog, replicas }));
  }
  return out;
}

const run = (from: number, to: number, f: (s: number) => Omit<Step, 's'>): Step[] => Array.from({ length: to - from }, (_, i) => ({ s: from + i, ...f(from + i) }));

describe('RateEstimator (injected clock, simulated counters)', () => {
  test.each<[string, Step[], number | undefined]>([
    ['saturated, 2 replicas constant', run(0, 8, () => ({ lambda: 400, replicas: 2, mu: 150 })), 150],
    ['keeping up all along: capacity never seen', run(0, 10, () => ({ lambda: 200, replicas: 2, mu: 150 })), undefined],
    ['replica count changed, not settled since', run(0, 5, (s) => ({ lambda: 900, replicas: s < 2 ? 2 : 4, mu: 150 })), undefined],
    // Scaled 1 → 5 at s=6, the new workers serve from s=8: the settle time (one window) keeps the 2 s of 1 serving of 5 out of μ.
    ['fresh workers starting do not understate μ', run(0, 14, (s) => ({ lambda: 900, replicas: s < 6 ? 1 : 5, serving: s < 8 ? 1 : 5, mu: 150 })), 150],
    ['measured, then keeping up at a lower load: μ stays', [...run(0, 6, () => ({ lambda: 400, replicas: 2, mu: 150 })), ...run(6, 20, () => ({ lambda: 50, replicas: 2, mu: 150 }))], 150],
    ['measured at 150, saturated again at 200: the new measurement wins', [...run(0, 6, () => ({ lambda: 400, replicas: 2, mu: 150 })), ...run(6, 16, () => ({ lambda: 500, replicas: 2, mu: 200 }))], 200],
    // One replica saturated for a few seconds of a ramp (the lag count would add replicas soon after).
    ['a short saturated stretch of a ramp measures μ', run(0, 8, (s) => ({ lambda: 100 + 20 * s, replicas: 1, mu: 150 })), 150],
  ])('%s', (_name, steps, mu) => {
    const est = new RateEstimator(5);
    simulate(est, steps, 0);
    if (mu === undefined) expect(est.servicePerReplica).toBeUndefined();
    else expect(est.servicePerReplica).toBeCloseTo(mu);
  });

  test('μ is reported once the measuring intervals cover 2 s after the settle time, and λ from the first interval', () => {
    const est = new RateEstimator(5);
    const r = simulate(est, run(0, 8, () => ({ lambda: 400, replicas: 2, mu: 150 })));
    expect(r[1]!.arrivalRate).toBe(400);
    expect(r[6]!.servicePerReplica).toBeUndefined(); // intervals from s=5 (settled for a window) cover 1 s
    expect(r[7]).toMatchObject({ saturated: true });
    expect(r[7]!.servicePerReplica).toBeCloseTo(150);
    expect(r[7]!.processedRate).toBeCloseTo(300);
  });

  test('λ follows a step up at the next sample and comes down with the window', () => {
    const est = new RateEstimator(4);
    simulate(est, run(0, 5, () => ({ lambda: 100, replicas: 4, mu: 150 })));
    const up = est.add({ t: 5000, added: 500 + 600, read: 1100, pending: 0, lag: 0, replicas: 4 });
    expect(up.arrivalRate).toBe(600);
    const down = est.add({ t: 6000, added: 1100 + 100, read: 1200, pending: 0, lag: 0, replicas: 4 });
    expect(down.arrivalRate).toBe(225); // (1200 − 300) / 4 s over the window, above the last interval's 100
  });

  test('a busier unsaturated window raises μ (a lower bound)', () => {
    const est = new RateEstimator(3);
    simulate(est, run(0, 6, () => ({ lambda: 400, replicas: 2, mu: 150 })));
    expect(est.servicePerReplica).toBeCloseTo(150);
    // Workers got faster: 2 × 180 keep up with 360 arriving; no lag, so only the lower bound speaks.
    simulate(est, run(10, 20, () => ({ lambda: 360, replicas: 2, mu: 400 })));
    expect(est.servicePerReplica).toBeCloseTo(180);
  });

  test('counters going backwards (stream re-created) restart the window', () => {
    const est = new RateEstimator(3);
    est.add({ t: 0, added: 1000, read: 1000, pending: 0, lag: 0, replicas: 1 });
    est.add({ t: 1000, added: 1100, read: 1100, pending: 0, lag: 0, replicas: 1 });
    const r = est.add({ t: 2000, added: 5, read: 5, pending: 0, lag: 0, replicas: 1 });
    expect(r.arrivalRate).toBeUndefined();
  });
});

/** `entries-added` sampled every second for `seconds` s under the arrival rate `rate(s)` (a deterministic count per second). */
function addedSamples(seconds: number, rate: (s: number) => number): { t: number; added: number }[] {
  let added = 0;
  const out = [{ t: 0, added: 0 }];
  for (let s = 1; s <= seconds; s++) {
    added += Math.round(rate(s));
    out.push({ t: s * S, added });
  }
  return out;
}

/** A deterministic pseudo-random sequence (xorshift), for arrivals with noise. */
function noise(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) % 1000) / 1000;
  };
}

describe('arrivalRise: the ramp projected one window ahead, nothing for a step, a flat or a falling load', () => {
  test.each<[string, (s: number) => number, (rise: number) => boolean]>([
    // 20/s rising by 5/s every second: slope 5/s², projected over a 5 s window: about 25/s.
    ['a ramp rising in both windows', (s) => 20 + 5 * s, (r) => r > 20 && r < 30],
    ['a flat load', () => 160, (r) => r === 0],
    ['a step up 2 s ago (the older window is flat)', (s) => (s < 13 ? 100 : 600), (r) => r === 0],
    ['a step up 7 s ago (the current window is flat)', (s) => (s < 8 ? 100 : 600), (r) => r === 0],
    ['a falling load', (s) => 200 - 5 * s, (r) => r === 0],
    ['a rise too small to tell from noise (0.5/s² at 160/s)', (s) => 160 + 0.5 * s, (r) => r === 0],
  ])('%s', (_name, rate, ok) => {
    const rise = arrivalRise(addedSamples(15, rate), 5);
    expect(ok(rise)).toBe(true);
  });

  test('noise of Poisson size on a flat 160/s: a rise is projected in at most 0.1 % of 6,000 decisions, each under a replica', () => {
    const rises: number[] = [];
    for (const seed of [16, 1, 2, 3, 4, 5]) {
      const rnd = noise(seed);
      let added = 0;
      const samples: { t: number; added: number }[] = [];
      for (let s = 0; s < 1010; s++) {
        // 160/s, uniform noise with about 1.15 times the Poisson spread (√160 per second).
        added += Math.round(160 + (rnd() - 0.5) * 4 * Math.sqrt(160));
        samples.push({ t: s * S, added });
        const rise = s >= 10 ? arrivalRise(samples.slice(-12), 5) : 0;
        if (rise > 0) rises.push(rise);
      }
    }
    // With a 2σ gate instead of 3σ this was 73 of 6,000; with 3σ, 4 (each 6–22/s, a replica is 40/s here).
    expect(rises.length).toBeLessThanOrEqual(6);
    expect(Math.max(0, ...rises)).toBeLessThan(40);
  });

  test('too few samples, or a window not yet covered, give 0', () => {
    expect(arrivalRise([], 5)).toBe(0);
    expect(arrivalRise(addedSamples(6, (s) => 20 + 20 * s), 5)).toBe(0); // the older window is not covered yet
  });

  test('the estimator adds the rise to λ on a ramp and reports it', () => {
    const est = new RateEstimator(5);
    const r = simulate(est, run(0, 16, (s) => ({ lambda: 20 + 5 * s, replicas: 4, mu: 150 })));
    const last = r[r.length - 1]!;
    expect(last.arrivalRise).toBeGreaterThan(20);
    // λ = the last interval's 95/s plus the rise: what the load will be one window on.
    expect(last.arrivalRate).toBeCloseTo(95 + last.arrivalRise, 5);
  });
});

describe('rate count never drops replicas the arrivals need', () => {
  // While λ > μ·(n − 1) (more than n − 1 replicas take), the count is at least n; at λ = μ·(n − 1) it may drop.
  test.each([1, 2, 3, 4, 5, 8, 13].flatMap((n) => [37, 150].map((mu) => [n, mu] as const)))('n=%p μ=%p', (n, mu) => {
    const p = { targetDrainS: 30, targetLagSeconds: 5 };
    const justAbove = rateDesiredReplicas({ arrivalRate: mu * (n - 1) + 0.01, servicePerReplica: mu, waiting: 0 }, p);
    expect(justAbove).toBeGreaterThanOrEqual(n);
    const at = rateDesiredReplicas({ arrivalRate: mu * (n - 1), servicePerReplica: mu, waiting: 0 }, p);
    expect(at).toBe(n - 1);
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

/**
 * A closed loop in simulated seconds: the scenario (a trickle, a ramp, a burst that 5 workers of
 * 40/s keep up with, a trickle), workers that start serving 1 s after they are added and hold up to
 * 4 entries in flight, the decider fed every second in the lag mode or with the rate count.
 */
function closedLoop(mode: 'lag' | 'rate') {
  const mu = 40;
  const lambdaAt = (s: number) => (s < 10 ? 20 : s < 25 ? 20 + (60 * (s - 10)) / 15 : s < 85 ? 180 : 20);
  const decider = new ScaleDecider({ targetPerReplica: 20, minReplicas: 1, maxReplicas: 8, scaleDownWindowS: 10 });
  const est = new RateEstimator(5);
  let replicas = 1;
  let serving = 1;
  let backlog = 0;
  let added = 0;
  let read = 0;
  const trace: Array<{ s: number; replicas: number; backlog: number }> = [];
  for (let s = 0; s < 110; s++) {
    const lambda = lambdaAt(s);
    added += lambda;
    backlog += lambda;
    const done = Math.min(backlog, serving * mu);
    backlog -= done;
    read += done;
    const inFlight = Math.min(4 * serving, done);
    const outstanding = backlog + inFlight;
    const e = est.add({ t: s * S, added, read: read + inFlight, pending: inFlight, lag: backlog, replicas });
    const raw = mode === 'rate' ? rateDesiredReplicas({ arrivalRate: e.arrivalRate ?? 0, servicePerReplica: e.servicePerReplica, waiting: backlog }, { targetDrainS: 30, targetLagSeconds: 5 }) : undefined;
    serving = replicas; // workers added at the last decision serve from now on
    replicas = decider.decide({ nowMs: s * S, currentReplicas: replicas, outstanding, raw, busy: lambda > 0 }).desired;
    serving = Math.min(serving, replicas); // removed workers stop at once
    trace.push({ s, replicas, backlog });
  }
  const burst = trace.filter((x) => x.s >= 25 && x.s < 85);
  let changes = 0;
  let dir = 0;
  for (let i = 1; i < trace.length; i++) {
    const d = Math.sign(trace[i]!.replicas - trace[i - 1]!.replicas);
    if (d === 0) continue;
    if (trace[i]!.s >= 25 && trace[i]!.s < 85 && dir !== 0 && d !== dir) changes += 1;
    dir = d;
  }
  return { changes, maxBacklogInBurst: Math.max(...burst.map((x) => x.backlog)), replicasInBurst: burst.map((x) => x.replicas) };
}

describe('closed loop on the issue scenario (simulated workers, injected clock)', () => {
  test('the lag count falls mid-burst and comes back; the rate count holds 5 through the burst', () => {
    const lag = closedLoop('lag');
    const rate = closedLoop('rate');
    expect(lag.changes).toBeGreaterThanOrEqual(1);
    expect(rate.changes).toBe(0);
    expect(rate.replicasInBurst.slice(5)).toEqual(rate.replicasInBurst.slice(5).map(() => 5));
    expect(rate.maxBacklogInBurst).toBeLessThan(lag.maxBacklogInBurst);
  });
});
