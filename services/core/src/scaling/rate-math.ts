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
 * The unclamped replica count of the rate mode: ceil(max((λ + B/drain)/μ, B/(μ·lagObjective))),
 * 0 when nothing arrives and nothing waits; undefined while μ is unknown (the caller then uses the
 * lag mode's count, so a cold start still scales).
 */
export function rateDesiredReplicas(input: RateInput, p: Pick<RatePolicy, 'targetDrainS' | 'targetLagSeconds'>): number | undefined {
  const mu = input.servicePerReplica;
  if (mu === undefined || !(mu > 0)) return undefined;
  const lambda = Math.max(0, input.arrivalRate);
  const backlog = Math.max(0, input.waiting);
  let need = (lambda + backlog / p.targetDrainS) / mu;
  if (p.targetLagSeconds !== undefined) need = Math.max(need, backlog / (mu * p.targetLagSeconds));
  if (need <= 0) return 0;
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
  /** λ: the larger of the window's and the last interval's arrival rate, entries/s; undefined with fewer than two samples. */
  arrivalRate: number | undefined;
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

/**
 * Measures λ and μ from counter samples. μ, one replica's capacity, is only visible while the
 * replicas are busy: a window counts as a capacity measurement when the replica count did not change
 * in it and entries waited undelivered at every sample (lag > 0); then μ = processed rate / replicas.
 * Outside such windows the observed rate per replica is only a lower bound, which raises μ when it
 * is above the estimate and never lowers it. Counters that go backwards (stream re-created) restart
 * the window.
 */
export class RateEstimator {
  private readonly samples: CounterSample[] = [];
  private mu: number | undefined;

  constructor(private readonly windowS: number) {
    if (!(windowS > 0)) throw new RangeError(`rate estimator: windowS=${windowS} is invalid: expected a number > 0`);
  }

  /** The current μ, entries per replica per second. */
  get servicePerReplica(): number | undefined {
    return this.mu;
  }

  add(sample: CounterSample): RateEstimate {
    const last = this.samples[this.samples.length - 1];
    if (last && (sample.added < last.added || sample.read < last.read || sample.t <= last.t)) {
      if (sample.t > last.t) this.samples.length = 0; // counters reset: start over
      else return this.estimate(); // clock went backwards or a duplicate: ignore
    }
    this.samples.push(sample);
    const start = sample.t - this.windowS * 1000;
    // Keep one sample at or before the window start, so the window spans windowS once it is full.
    while (this.samples.length > 2 && this.samples[1]!.t <= start) this.samples.shift();
    return this.estimate();
  }

  private estimate(): RateEstimate {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) {
      return { arrivalRate: undefined, processedRate: undefined, servicePerReplica: this.mu, saturated: false };
    }
    const spanS = (last.t - first.t) / 1000;
    // Up at once, down smoothly: the larger of the window's rate and the last interval's, so a step in
    // the load counts from the next decision (the scale-down window then holds the count).
    const prev = this.samples[this.samples.length - 2]!;
    const lastRate = Math.max(0, last.added - prev.added) / ((last.t - prev.t) / 1000);
    const arrivalRate = Math.max(Math.max(0, last.added - first.added) / spanS, lastRate);
    const processedRate = processedBetween(first, last) / spanS;
    const full = spanS >= this.windowS * 0.8 && this.samples.length >= 3;
    const replicas = first.replicas;
    const steady = replicas > 0 && this.samples.every((s) => s.replicas === replicas);
    const saturated = full && steady && this.samples.every((s) => s.lag > 0);
    if (steady && full && processedRate > 0) {
      const perReplica = processedRate / replicas;
      if (saturated) this.mu = perReplica;
      else if (this.mu !== undefined && perReplica > this.mu) this.mu = perReplica;
    }
    return { arrivalRate, processedRate, servicePerReplica: this.mu, saturated };
  }
}
