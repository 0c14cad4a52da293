import {
  clamp,
  isActive,
  rawDesiredReplicas,
  scaleUpLimit,
  scalingPolicy,
  type ScalingPolicy,
} from './replica-math';

/** One decision's input: the clock, the target's replica count now, and the backlog (undefined = could not be read). */
export interface ScaleInput {
  /** Wall clock (or a simulated one) in ms. Must not go backwards between calls. */
  nowMs: number;
  /** Replicas the target has now (the Deployment's `spec.replicas`), as just read. */
  currentReplicas: number;
  /** Outstanding entries (lag + pending), or undefined when the backlog could not be read. */
  outstanding: number | undefined;
  /**
   * The mode's unclamped replica count (the rate mode, rate-math.ts); default the lag mode's
   * ceil(outstanding / targetPerReplica). Ignored when `outstanding` is undefined.
   */
  raw?: number | undefined;
  /**
   * Activity beyond outstanding > activation (the rate mode: entries are arriving, even if the workers
   * keep outstanding at 0); ORed with it while replicas run, never activating from 0. Default false.
   */
  busy?: boolean | undefined;
}

/** Why {@link ScaleDecision.desired} has its value. */
export type ScaleReason =
  /** The backlog could not be read: the current count is held. */
  | 'no-data-hold'
  /** The backlog could not be read: `fallbackReplicas` is used. */
  | 'no-data-fallback'
  /** At 0 replicas and outstanding ≤ activation: stays at 0. */
  | 'inactive'
  /** No activity for `cooldownS`: scaled to 0 (KEDA). */
  | 'cooldown-elapsed'
  /** ceil(outstanding / target), clamped, stabilized and rate-limited (the HPA). */
  | 'metric';

/** What bent the recommendation before it became the decision. */
export type ScaleLimit = 'scale-up-rate' | 'scale-down-window' | 'min' | 'max' | 'cooldown-floor';

/** A decision with every input and intermediate value, for the decision log line. */
export interface ScaleDecision {
  /** The replica count to set. */
  desired: number;
  current: number;
  direction: 'up' | 'down' | 'none';
  reason: ScaleReason;
  /** Limits that changed the value on its way (empty when none did). */
  limitedBy: ScaleLimit[];
  outstanding: number | undefined;
  active: boolean | undefined;
  /** ceil(outstanding / targetPerReplica), unclamped. */
  raw: number | undefined;
  /** `raw` clamped to [max(min, 1 while active or cooling down), max]. */
  recommendation: number | undefined;
  /** Seconds since the last activity (outstanding > activation); undefined before any. */
  idleS: number | undefined;
  /** Seconds left before scale to zero, while cooling down. */
  cooldownLeftS: number | undefined;
}

interface Stamped {
  t: number;
  value: number;
}

/**
 * The time-dependent half of the scaling rules, one instance per scaled target:
 * - activation and cooldown (KEDA): from 0 replicas only when outstanding > activation; back to 0
 *   only after `cooldownS` without activity (the cooldown clock starts at the first observation);
 * - scale-down stabilization (HPA): the highest recommendation of the last `scaleDownWindowS`; the
 *   window is seeded with the current replica count at the first decision, so a restarted or newly
 *   elected autoscaler does not scale down before a full window;
 * - scale-up rate (HPA default): at most the larger of +`scaleUpPods` and +`scaleUpPercent` % over
 *   the replicas at the start of each `scaleUpPeriodS`;
 * - missing data: hold (or `fallbackReplicas`), never to zero.
 * Feed it one {@link ScaleInput} per poll; it assumes the decisions it returns get applied, and it
 * reads the actual replica count from each input (so a manual `kubectl scale` is simply overridden).
 */
export class ScaleDecider {
  readonly policy: ScalingPolicy;
  private lastActiveAt: number | undefined;
  private started = false;
  private lastNow = -Infinity;
  private readonly recommendations: Stamped[] = [];
  private readonly observed: Stamped[] = [];
  private readonly applied: Stamped[] = [];

  constructor(policy: Partial<ScalingPolicy> & Pick<ScalingPolicy, 'targetPerReplica'>) {
    this.policy = scalingPolicy(policy);
  }

  /** Time of the last activity in ms, if any. */
  get lastActivityAt(): number | undefined {
    return this.lastActiveAt;
  }

  decide(input: ScaleInput): ScaleDecision {
    const p = this.policy;
    const now = Math.max(input.nowMs, this.lastNow);
    this.lastNow = now;
    const current = input.currentReplicas;
    this.sampleReplicas(now, current);

    if (!this.started) {
      this.started = true;
      // The cooldown starts at the first observation, and the window starts with what runs now.
      if (current > 0) {
        this.lastActiveAt = now;
        this.recommendations.push({ t: now, value: current });
      }
    }

    if (input.outstanding === undefined || !Number.isFinite(input.outstanding)) {
      const fallback = p.fallbackReplicas;
      const desired = fallback === undefined ? current : clamp(fallback, Math.max(1, p.minReplicas), p.maxReplicas);
      return this.result(current, desired, fallback === undefined ? 'no-data-hold' : 'no-data-fallback', [], {});
    }

    const outstanding = input.outstanding;
    // Arrivals keep running replicas active (no cooldown to 0 while entries flow); from 0 replicas only
    // outstanding > activation activates, as in the lag mode.
    const active = isActive(outstanding, p.activation) || (input.busy === true && current > 0);
    if (active) this.lastActiveAt = now;
    const idleMs = this.lastActiveAt === undefined ? undefined : now - this.lastActiveAt;
    const raw = input.raw !== undefined && Number.isFinite(input.raw) ? Math.max(0, Math.ceil(input.raw)) : rawDesiredReplicas(outstanding, p.targetPerReplica);
    const idleS = idleMs === undefined ? undefined : idleMs / 1000;
    const base = { outstanding, active, raw, idleS };

    if (p.minReplicas === 0 && !active) {
      if (current === 0) {
        this.pushRecommendation(now, 0);
        return this.result(current, 0, 'inactive', [], { ...base, recommendation: 0 });
      }
      if (idleMs === undefined || idleMs >= p.cooldownS * 1000) {
        this.pushRecommendation(now, 0);
        return this.result(current, 0, 'cooldown-elapsed', [], { ...base, recommendation: 0 });
      }
    }

    const limitedBy: ScaleLimit[] = [];
    // While active or cooling down the floor is 1 even with minReplicas 0 (KEDA keeps the HPA's min ≥ 1).
    const floor = Math.max(p.minReplicas, 1);
    const recommendation = clamp(raw, floor, p.maxReplicas);
    if (recommendation > raw) limitedBy.push(p.minReplicas >= 1 ? 'min' : 'cooldown-floor');
    if (recommendation < raw) limitedBy.push('max');
    this.pushRecommendation(now, recommendation);

    // HPA stabilization: scale-up window 0 (immediate), scale-down to the highest recommendation in the window.
    const windowStart = now - p.scaleDownWindowS * 1000;
    let downRecommendation = recommendation;
    for (const r of this.recommendations) if (r.t > windowStart && r.value > downRecommendation) downRecommendation = r.value;
    let desired = current;
    if (desired < recommendation) desired = recommendation;
    if (desired > downRecommendation) desired = downRecommendation;
    if (desired > recommendation) limitedBy.push('scale-down-window');

    // HPA scale-up rate limit, relative to the replicas at the start of the period.
    if (desired > current) {
      const limit = Math.max(scaleUpLimit(this.periodStartReplicas(now), p), current);
      if (desired > limit) {
        desired = limit;
        limitedBy.push('scale-up-rate');
      }
    }
    desired = clamp(desired, p.minReplicas, p.maxReplicas);
    const cooldownLeftS =
      !active && idleMs !== undefined && p.minReplicas === 0 ? Math.max(0, p.cooldownS - idleMs / 1000) : undefined;
    return this.result(current, desired, 'metric', [...new Set(limitedBy)], { ...base, recommendation, cooldownLeftS });
  }

  private result(
    current: number,
    desired: number,
    reason: ScaleReason,
    limitedBy: ScaleLimit[],
    extra: Partial<Pick<ScaleDecision, 'outstanding' | 'active' | 'raw' | 'recommendation' | 'idleS' | 'cooldownLeftS'>>,
  ): ScaleDecision {
    this.applied.push({ t: this.lastNow, value: desired });
    return {
      desired,
      current,
      direction: desired > current ? 'up' : desired < current ? 'down' : 'none',
      reason,
      limitedBy,
      outstanding: extra.outstanding,
      active: extra.active,
      raw: extra.raw,
      recommendation: extra.recommendation,
      idleS: extra.idleS,
      cooldownLeftS: extra.cooldownLeftS,
    };
  }

  private pushRecommendation(now: number, value: number): void {
    this.recommendations.push({ t: now, value });
    const windowStart = now - this.policy.scaleDownWindowS * 1000;
    while (this.recommendations.length > 0 && this.recommendations[0]!.t <= windowStart) this.recommendations.shift();
  }

  /** Observed replica counts of the current scale-up period. */
  private sampleReplicas(now: number, replicas: number): void {
    this.observed.push({ t: now, value: replicas });
    const periodStart = now - this.policy.scaleUpPeriodS * 1000;
    while (this.observed.length > 0 && this.observed[0]!.t <= periodStart) this.observed.shift();
    // Keep the last decision at or before the period start: the count the period started with.
    while (this.applied.length > 1 && this.applied[1]!.t <= periodStart) this.applied.shift();
  }

  /**
   * The replicas at the start of the scale-up period (the HPA's `current - added in period`): the last
   * decision at or before the period start, or less if fewer replicas were observed within the period.
   */
  private periodStartReplicas(now: number): number {
    const periodStart = now - this.policy.scaleUpPeriodS * 1000;
    let base = Infinity;
    const first = this.applied[0];
    if (first && first.t <= periodStart) base = first.value;
    for (const s of this.observed) base = Math.min(base, s.value);
    return Number.isFinite(base) ? base : 0;
  }
}
