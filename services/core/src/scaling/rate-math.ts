/**
 * The rate-aware scaling mode (`SCALING_MODE=rate`, docs/design.md, "Scaling"): replicas from the
 * arrival rate, the service rate of one replica and the backlog, instead of the backlog alone. Pure
 * functions plus {@link RateEstimator}, which keeps a window of counter samples and is driven by the
 * caller's clock. {@link ScaleDecider} applies the same bounds, activation, cooldown, stabilization and
 * scale-up limits to the result as in the lag mode.
 *
 * Why: under steady load a backlog says nothing about the capacity needed (workers that keep up leave
 * outstanding near 0, so `ceil(outstanding / target)` falls while the load stays). The capacity needed
 * is what arrives, plus what it takes to drain what waits:
 *
 *   n ≥ (λ + B / TARGET_DRAIN_S) / μ        (hold the arrivals and drain the backlog in TARGET_DRAIN_S)
 *   n ≥ B / (μ · TARGET_LAG_SECONDS)         (an entry arriving now waits about B / (n μ) behind the backlog)
 *
 * λ: entries added per second; μ: entries one replica processes per second; B: entries waiting
 * undelivered (the group's lag).
 */

/** `lag`: ceil(outstanding / TARGET_PER_REPLICA), KEDA parity (default); `rate`: this file. */
export type ScalingMode = 'lag' | 'rate';
/** Every {@link ScalingMode} (`SCALING_MODE`'s allowed values). */
export const SCALING_MODES: readonly ScalingMode[] = ['lag', 'rate'];

/** The rate mode's own settings. */
export interface RatePolicy {
  /** Seconds in which the backlog should be drained on top of the arrivals (`TARGET_DRAIN_S`); > 0. */
  targetDrainS: number;
  /** Backlog-age objective in seconds (`TARGET_LAG_SECONDS`); undefined = none. > 0. */
  targetLagSeconds: number | undefined;
  /** Window over which the rates are measured (`RATE_WINDOW_S`); > 0. */
  rateWindowS: number;
}

/** The defaults of {@link RatePolicy} (the config definitions take theirs from here). */
export const DEFAULT_RATE_POLICY: Readonly<RatePolicy> = { targetDrainS: 30, targetLagSeconds: undefined, rateWindowS: 5 };

/** Fills in the defaults and checks the policy; throws a RangeError naming the bad field. */
export function ratePolicy(partial: Partial<RatePolicy> = {}): RatePolicy {
  const p: RatePolicy = {
    targetDrainS: partial.targetDrainS ?? DEFAULT_RATE_POLICY.targetDrainS,
    targetLagSeconds: partial.targetLagSeconds ?? DEFAULT_RATE_POLICY.targetLagSeconds,
    rateWindowS: partial.rateWindowS ?? DEFAULT_RATE_POLICY.rateWindowS,
  };
  const check = (ok: boolean, field: keyof RatePolicy, allowed: string) => {
    if (!ok) throw new RangeError(`rate policy: ${field}=${String(p[field])} is invalid: expected ${allowed}`);
  };
  check(Number.isFinite(p.targetDrainS) && p.targetDrainS > 0, 'targetDrainS', 'a number > 0');
  check(p.targetLagSeconds === undefined || (Number.isFinite(p.targetLagSeconds) && p.targetLagSeconds > 0), 'targetLagSeconds', 'a number > 0 or unset');
  check(Number.isFinite(p.rateWindowS) && p.rateWindowS > 0, 'rateWindowS', 'a number > 0');
  return p;
}

/** What the rate math needs at one decision. */
export interface RateInput {
  /** λ, entries added per second. */
  arrivalRate: number;
  /** μ, entries one replica processes per second; undefined while not measured yet. */
  servicePerReplica: number | undefined;
  /**
   * B, entries waiting to be delivered (the group's lag). Pending entries are not counted: under
   * steady load the workers always hold some in flight, and that is part of the service rate, not a
   * backlog to drain.
   */
  waiting: number;
}

/**
 * How far the need may stray from the current count, as a fraction of it, before the count changes:
 * the HPA's default (`--horizontal-pod-autoscaler-tolerance`, 0.1). μ is measured from the workers' own
 * throughput, so a window in which they barely kept up gives μ ≈ λ / n and a need of n plus or minus
 * noise; without a tolerance that noise adds a replica, which the scale-down window then holds and
 * takes back: a reversal under steady load, what this mode exists to avoid.
 */
export const RATE_TOLERANCE = 0.1;

/**
 * The unclamped replica count of the rate mode: ceil(max((λ + B/drain)/μ, B/(μ·lagObjective))),
 * 0 when nothing arrives and nothing waits; undefined while μ is unknown (the caller then uses the
 * lag mode's count, so a cold start still scales). With `currentReplicas` (> 0), a need within
 * {@link RATE_TOLERANCE} of it keeps it.
 */
export function rateDesiredReplicas(input: RateInput, p: Pick<RatePolicy, 'targetDrainS' | 'targetLagSeconds'>, currentReplicas?: number): number | undefined {
  const mu = input.servicePerReplica;
  if (mu === undefined || !(mu > 0)) return undefined;
  const lambda = Math.max(0, input.arrivalRate);
  const backlog = Math.max(0, input.waiting);
  let need = (lambda + backlog / p.targetDrainS) / mu;
  if (p.targetLagSeconds !== undefined) need = Math.max(need, backlog / (mu * p.targetLagSeconds));
  if (need <= 0) return 0;
  if (currentReplicas !== undefined && currentReplicas > 0 && Math.abs(need / currentReplicas - 1) <= RATE_TOLERANCE) return currentReplicas;
  // A hair of slack so that 600/s against 150/s per replica is 4 and not 5 through float noise.
  return Math.ceil(need - 1e-9);
}

/** One reading of the group's counters. */
export interface CounterSample {
  /** Clock in ms. */
  t: number;
  /** `entries-added` of the stream. */
  added: number;
  /** `entries-read` of the group. */
  read: number;
  /** Pending entries of the group (delivered, not acked). */
  pending: number;
  /** Undelivered entries of the group (lag). */
  lag: number;
  /** Replicas running when the sample was taken. */
  replicas: number;
}

/** What the window says. */
export interface RateEstimate {
  /**
   * λ: the larger of the window's and the last interval's arrival rate, entries/s, plus the rise
   * expected over one window where the arrivals are clearly rising ({@link arrivalRise}); undefined
   * with fewer than two samples.
   */
  arrivalRate: number | undefined;
  /** The part of `arrivalRate` that is the projected rise (0 unless the arrivals clearly rise). */
  arrivalRise: number;
  /** Processed (acknowledged) entries/s over the window, all replicas together. */
  processedRate: number | undefined;
  /** μ, the current estimate of one replica's capacity, entries/s; undefined until measured. */
  servicePerReplica: number | undefined;
  /** True when this window measured capacity (replicas constant, entries waiting all along). */
  saturated: boolean;
}

/** processed over a span = Δ(entries-read − pending): what was read and is no longer pending. */
export function processedBetween(a: CounterSample, b: CounterSample): number {
  return Math.max(0, b.read - b.pending - (a.read - a.pending));
}

/** A sample with the time since which its replica count has been unchanged. */
interface Stamped extends CounterSample {
  replicasSince: number;
}

/**
 * Measures λ and μ from counter samples. μ, one replica's capacity, is only visible while the
 * replicas are busy. Each interval between two samples is a capacity measurement when entries waited
 * undelivered at both ends (lag > 0: the workers never ran dry) and the replica count was the same at
 * both ends and had been so for `settleS` (by default one window) before it: workers just added are
 * still starting (a process, a pod) and would make μ look smaller than it is. μ = processed / replica-seconds over the measuring intervals of the window, once
 * they cover `min(2 s, 0.4 × window)`; otherwise the last μ stays. Outside such windows the observed
 * rate per replica (replicas settled over the window) is only a lower bound, which raises μ when it is
 * above the estimate and never lowers it. Counters that go backwards (stream re-created) restart the
 * window.
 */
export class RateEstimator {
  private readonly samples: Stamped[] = [];
  /** `entries-added` over the last two windows, for {@link arrivalRise}. */
  private readonly added: AddedSample[] = [];
  private mu: number | undefined;

  constructor(
    private readonly windowS: number,
    private readonly settleS = windowS,
  ) {
    if (!(windowS > 0)) throw new RangeError(`rate estimator: windowS=${windowS} is invalid: expected a number > 0`);
    if (!(settleS >= 0)) throw new RangeError(`rate estimator: settleS=${settleS} is invalid: expected a number ≥ 0`);
  }

  /** The current μ, entries per replica per second. */
  get servicePerReplica(): number | undefined {
    return this.mu;
  }

  /** Adds one sample of the counters; returns the estimate over the window. */
  add(sample: CounterSample): RateEstimate {
    const last = this.samples[this.samples.length - 1];
    if (last && (sample.added < last.added || sample.read < last.read || sample.t <= last.t)) {
      if (sample.t > last.t) this.samples.length = this.added.length = 0; // counters reset: start over
      else return this.estimate(); // clock went backwards or a duplicate: ignore
    }
    const prev = this.samples[this.samples.length - 1];
    const replicasSince = prev && prev.replicas === sample.replicas ? prev.replicasSince : sample.t;
    this.samples.push({ ...sample, replicasSince });
    this.added.push({ t: sample.t, added: sample.added });
    while (this.added.length > 2 && this.added[1]!.t <= sample.t - 2 * this.windowS * 1000) this.added.shift();
    const start = sample.t - this.windowS * 1000;
    // Keep one sample at or before the window start, so the window spans windowS once it is full.
    while (this.samples.length > 2 && this.samples[1]!.t <= start) this.samples.shift();
    return this.estimate();
  }

  /** Processed entries and replica-seconds over the window's capacity-measuring intervals. */
  private saturatedIntervals(): { processed: number; replicaS: number; spanS: number } {
    let processed = 0;
    let replicaS = 0;
    let spanS = 0;
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1]!;
      const b = this.samples[i]!;
      const settled = a.replicas > 0 && b.replicas === a.replicas && a.t - b.replicasSince >= this.settleS * 1000;
      if (!settled) continue;
      const dtS = (b.t - a.t) / 1000;
      if (!(a.lag > 0) || !(b.lag > 0)) continue;
      processed += processedBetween(a, b);
      replicaS += a.replicas * dtS;
      spanS += dtS;
    }
    return { processed, replicaS, spanS };
  }

  private estimate(): RateEstimate {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) {
      return { arrivalRate: undefined, arrivalRise: 0, processedRate: undefined, servicePerReplica: this.mu, saturated: false };
    }
    const spanS = (last.t - first.t) / 1000;
    // Up at once, down smoothly: the larger of the window's rate and the last interval's, so a step in
    // the load counts from the next decision (the scale-down window then holds the count).
    const prev = this.samples[this.samples.length - 2]!;
    const lastRate = Math.max(0, last.added - prev.added) / ((last.t - prev.t) / 1000);
    const rise = arrivalRise(this.added, this.windowS);
    const arrivalRate = Math.max(Math.max(0, last.added - first.added) / spanS, lastRate) + rise;
    const processedRate = processedBetween(first, last) / spanS;
    const sat = this.saturatedIntervals();
    const saturated = sat.spanS >= Math.min(2, this.windowS * 0.4) && sat.processed > 0;
    if (saturated) {
      this.mu = sat.processed / sat.replicaS;
    } else if (this.mu !== undefined && processedRate > 0) {
      const replicas = first.replicas;
      const settled = replicas > 0 && last.replicas === replicas && first.t - last.replicasSince >= this.settleS * 1000;
      const perReplica = processedRate / replicas;
      if (settled && spanS >= this.windowS * 0.8 && perReplica > this.mu) this.mu = perReplica;
    }
    return { arrivalRate, arrivalRise: rise, processedRate, servicePerReplica: this.mu, saturated };
  }
}

/** A reading of the stream's `entries-added` counter. */
export interface AddedSample {
  /** Clock in ms. */
  t: number;
  /** `entries-added` of the stream. */
  added: number;
}

/**
 * The rise in arrivals/s to expect over the next `windowS` seconds, from the samples of the last two
 * windows (older ones are ignored). A replica added now serves only after it has started (a process, a
 * pod) and after the next decisions, about a window later, while a window's average lags a ramp by half
 * a window: on a ramp the count would trail the load by that much, and the backlog age with it.
 *
 * The two windows are cut in four quarters (the counter interpolated between samples). A rise counts
 * only when it is clearly not noise and lasts: the last quarter's arrivals exceed the first's by more
 * than three times the spread Poisson arrivals at a constant rate would show (3·√(n₁ + n₄)), and the rate goes
 * up from each quarter to the next. The smallest of the three steps, per second, is the slope projected
 * one window ahead. A single step in the load raises at most two of the three (the step itself counts at
 * once, through the last interval's rate) and projects nothing; a flat or falling load gives 0 (the
 * scale-down window handles a fall).
 */
export function arrivalRise(samples: readonly AddedSample[], windowS: number): number {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || samples.length < 4) return 0;
  const spanMs = 2 * windowS * 1000;
  const from = last.t - spanMs;
  if (first.t > from + spanMs * 0.05) return 0; // the two windows are not covered yet
  const quarterMs = spanMs / 4;
  const counts = [0, 1, 2, 3].map((i) => addedAt(samples, from + (i + 1) * quarterMs) - addedAt(samples, from + i * quarterMs));
  const [n1, , , n4] = counts as [number, number, number, number];
  if (n4 - n1 <= 3 * Math.sqrt(Math.max(1, n1 + n4))) return 0;
  const quarterS = quarterMs / 1000;
  let step = Infinity;
  for (let i = 1; i < 4; i++) step = Math.min(step, (counts[i]! - counts[i - 1]!) / quarterS);
  return step > 0 ? (step / quarterS) * windowS : 0;
}

/** The `added` counter at time `t`, interpolated linearly between the samples around it (clamped at the ends). */
function addedAt(samples: readonly AddedSample[], t: number): number {
  let prev = samples[0]!;
  if (t <= prev.t) return prev.added;
  for (const s of samples) {
    if (s.t >= t) return prev.added + ((s.added - prev.added) * (t - prev.t)) / (s.t - prev.t);
    prev = s;
  }
  return prev.added;
}
