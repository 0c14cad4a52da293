/**
 * The replica math of KEDA and the HPA as pure functions (docs/design.md, "Scaling"). No clock, no state:
 * {@link ScaleDecider} adds the time-dependent parts (cooldown, stabilization window, scale-up rate).
 */

/** The scaling rules, with the defaults of KEDA and the HPA. */
export interface ScalingPolicy {
  /** Outstanding entries one replica is expected to handle (KEDA `lagCount`, HPA AverageValue target). > 0. */
  targetPerReplica: number;
  /** The target is active (and may leave 0 replicas) only when outstanding is strictly above this; default 0. */
  activation: number;
  /** Lowest replica count; 0 enables scale to zero. Default 0. */
  minReplicas: number;
  /** Highest replica count; default 20. */
  maxReplicas: number;
  /** Seconds without activity before scaling to zero (KEDA `cooldownPeriod`); default 300. */
  cooldownS: number;
  /** Scale-down takes the highest recommendation of this many seconds (HPA `stabilizationWindowSeconds`); default 300. */
  scaleDownWindowS: number;
  /** Scale-up may add this many pods per period (HPA default policy `Pods: 4`); default 4. */
  scaleUpPods: number;
  /** Scale-up may add this percentage per period (HPA default policy `Percent: 100`); the larger limit wins; default 100. */
  scaleUpPercent: number;
  /** Period of the scale-up policies in seconds (HPA `periodSeconds`); default 15. */
  scaleUpPeriodS: number;
  /** Replicas to run while the backlog cannot be read (KEDA `fallback.replicas`); undefined = hold the current count. ≥ 1. */
  fallbackReplicas: number | undefined;
}

/** The defaults of {@link ScalingPolicy}, as in docs/design.md, "Scaling" (HPA/KEDA defaults). */
export const DEFAULT_SCALING_POLICY: Readonly<ScalingPolicy> = {
  targetPerReplica: 100,
  activation: 0,
  minReplicas: 0,
  maxReplicas: 20,
  cooldownS: 300,
  scaleDownWindowS: 300,
  scaleUpPods: 4,
  scaleUpPercent: 100,
  scaleUpPeriodS: 15,
  fallbackReplicas: undefined,
};

/** Fills in the defaults (for fields absent or undefined) and checks the policy; throws a RangeError naming the bad field. */
export function scalingPolicy(partial: Partial<ScalingPolicy> = {}): ScalingPolicy {
  const p: ScalingPolicy = { ...DEFAULT_SCALING_POLICY, ...stripUndefined(partial) };
  const check = (ok: boolean, field: keyof ScalingPolicy, allowed: string) => {
    if (!ok) throw new RangeError(`scaling policy: ${field}=${String(p[field])} is invalid: expected ${allowed}`);
  };
  check(Number.isFinite(p.targetPerReplica) && p.targetPerReplica > 0, 'targetPerReplica', 'a number > 0');
  check(Number.isFinite(p.activation) && p.activation >= 0, 'activation', 'a number ≥ 0');
  check(Number.isInteger(p.minReplicas) && p.minReplicas >= 0, 'minReplicas', 'an integer ≥ 0');
  check(Number.isInteger(p.maxReplicas) && p.maxReplicas >= Math.max(1, p.minReplicas), 'maxReplicas', 'an integer ≥ max(1, minReplicas)');
  check(Number.isFinite(p.cooldownS) && p.cooldownS >= 0, 'cooldownS', 'a number ≥ 0');
  check(Number.isFinite(p.scaleDownWindowS) && p.scaleDownWindowS >= 0, 'scaleDownWindowS', 'a number ≥ 0');
  check(Number.isInteger(p.scaleUpPods) && p.scaleUpPods >= 0, 'scaleUpPods', 'an integer ≥ 0');
  check(Number.isFinite(p.scaleUpPercent) && p.scaleUpPercent >= 0, 'scaleUpPercent', 'a number ≥ 0');
  check(p.scaleUpPods > 0 || p.scaleUpPercent > 0, 'scaleUpPods', 'scaleUpPods or scaleUpPercent > 0 (else nothing could ever scale up)');
  check(Number.isFinite(p.scaleUpPeriodS) && p.scaleUpPeriodS > 0, 'scaleUpPeriodS', 'a number > 0');
  check(p.fallbackReplicas === undefined || (Number.isInteger(p.fallbackReplicas) && p.fallbackReplicas >= 1), 'fallbackReplicas', 'an integer ≥ 1 or unset');
  return p;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}

/** KEDA's activation: strictly above the threshold (outstanding = ACTIVATION stays inactive). */
export function isActive(outstanding: number, activation: number): boolean {
  return outstanding > activation;
}

/** ceil(outstanding / targetPerReplica), unclamped; 0 for no backlog. */
export function rawDesiredReplicas(outstanding: number, targetPerReplica: number): number {
  if (!(outstanding > 0)) return 0;
  return Math.ceil(outstanding / targetPerReplica);
}

/** ceil(outstanding / targetPerReplica) clamped to [minReplicas, maxReplicas]. */
export function desiredReplicas(outstanding: number, p: Pick<ScalingPolicy, 'targetPerReplica' | 'minReplicas' | 'maxReplicas'>): number {
  return clamp(rawDesiredReplicas(outstanding, p.targetPerReplica), p.minReplicas, p.maxReplicas);
}

/**
 * The highest replica count scale-up may reach in one period that started with `periodStartReplicas`
 * (HPA default: the larger of +4 pods and +100 %).
 */
export function scaleUpLimit(periodStartReplicas: number, p: Pick<ScalingPolicy, 'scaleUpPods' | 'scaleUpPercent'>): number {
  const byPods = periodStartReplicas + p.scaleUpPods;
  const byPercent = Math.ceil(periodStartReplicas * (1 + p.scaleUpPercent / 100));
  return Math.max(byPods, byPercent);
}

/**
 * What the backlog reader saw, structurally compatible with `readGroupBacklog()`'s result
 * (streams/lag*.ts), so the math does not depend on Redis.
 */
export type BacklogObservation =
  | { status: 'ok'; backlog: { outstanding: number } }
  | { status: 'no-stream' }
  | { status: 'no-group'; streamLength: number };

/**
 * The scaling signal of a backlog observation: outstanding (lag + pending); a missing group counts
 * the whole stream (no worker created it yet, as KEDA does); a missing stream is 0.
 */
export function outstandingOf(obs: BacklogObservation): number {
  switch (obs.status) {
    case 'ok':
      return obs.backlog.outstanding;
    case 'no-group':
      return obs.streamLength;
    case 'no-stream':
      return 0;
  }
}
