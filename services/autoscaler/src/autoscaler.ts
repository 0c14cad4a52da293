import { Counter, Gauge, type Registry } from 'prom-client';
import {
  PeriodicTask,
  METRIC_PREFIX,
  ScaleDecider,
  errorFields,
  type Logger,
  type Readiness,
  type ScaleDecision,
  type ScalingPolicy,
} from '@stream-workers/core';
import { KubeApiError } from './kube-api-error';
import type { ScaleTarget, TargetState } from './scale-target';
import type { ScaleSignal } from './rate-signal';

/** Options for {@link Autoscaler}. */
export interface AutoscalerOptions {
  target: ScaleTarget;
  /**
   * The scaling signal: outstanding entries, or undefined when it cannot be read (the lag mode's
   * BacklogSource); or a {@link ScaleSignal} with the mode's own count (the rate mode's RateSignal).
   */
  backlog: { read(currentReplicas: number): Promise<number | undefined | ScaleSignal> };
  policy: Partial<ScalingPolicy> & Pick<ScalingPolicy, 'targetPerReplica'>;
  /** Time between two decisions in ms. */
  pollIntervalMs: number;
  logger: Logger;
  registry?: Registry;
  /** Decides only while this returns true (leader election); default always. */
  isLeader?: () => boolean;
  /** Longest retry delay after target errors (404, 403, API down) in ms; default 60000. */
  maxBackoffMs?: number;
  /** Clock in ms; default Date.now. */
  now?: () => number;
  /** Extra fields on the decision log lines (stream, group). */
  logFields?: Record<string, unknown>;
}

/** What one {@link Autoscaler.tick} did. */
export type TickOutcome =
  | { kind: 'standby' }
  | { kind: 'paused'; replicas: number }
  | { kind: 'target-error'; error: KubeApiError | Error }
  | { kind: 'decided'; decision: ScaleDecision; applied: boolean };

/**
 * The decision loop: every `pollIntervalMs` (while leader) read the target (paused annotation,
 * current replicas), read the backlog, let the {@link ScaleDecider} decide, and set the new count when
 * it differs. A manual change of the replicas is overridden at the next decision, as the HPA does.
 * Target errors are answered once per streak: 403 names the missing RBAC verb and resource and turns
 * readiness to 503; 404 names the target; both retry with exponential backoff.
 */
export class Autoscaler {
  private decider: ScaleDecider;
  private readonly now: () => number;
  private readonly loop: PeriodicTask<TickOutcome>;
  private inflight: Promise<TickOutcome> | undefined;
  private paused = false;
  private errorKey: string | undefined;
  private errorStreak = 0;
  private forbidden: KubeApiError | undefined;
  private lastDecisionKey: string | undefined;
  private wasLeader: boolean | undefined;
  private desired: number | undefined;
  private current: number | undefined;
  private outstanding: number | undefined;
  private readonly scaleEvents: Counter<'direction'> | undefined;
  private readonly targetErrors: Counter<'kind'> | undefined;
  private readonly loops: Counter<'outcome'> | undefined;

  constructor(private readonly opts: AutoscalerOptions) {
    this.decider = new ScaleDecider(opts.policy);
    this.now = opts.now ?? Date.now;
    this.loop = new PeriodicTask({
      run: () => this.tick(),
      nextDelayMs: (r) => {
        if (r.ok) return r.value.kind === 'target-error' ? this.backoffMs() : this.opts.pollIntervalMs;
        // decide() handles its errors; this is a bug guard so that the loop never stops silently.
        this.opts.logger.error(errorFields(r.error), 'unexpected error in the decision loop');
        return this.backoffMs();
      },
    });
    const registry = opts.registry;
    if (registry) {
      const self = this;
      const gauge = (name: string, help: string, value: () => number | undefined) =>
        new Gauge({
          name: `${METRIC_PREFIX}${name}`,
          help,
          registers: [registry],
          collect() {
            const v = value();
            if (v === undefined) this.reset();
            else this.set(v);
          },
        });
      gauge('autoscaler_desired_replicas', 'Replica count of the last scaling decision', () => self.desired);
      gauge('autoscaler_current_replicas', 'Replica count of the target as last read', () => self.current);
      gauge('autoscaler_outstanding', 'Outstanding entries (lag + pending) of the group as last read; absent while unreadable', () => self.outstanding);
      gauge('autoscaler_leader', '1 when this replica holds the leader lease and makes the decisions', () => ((opts.isLeader?.() ?? true) ? 1 : 0));
      gauge('autoscaler_paused', '1 while the target carries stream-workers.io/paused: "true"', () => (self.paused ? 1 : 0));
      gauge('autoscaler_max_replicas', 'MAX_REPLICAS of the policy', () => self.decider.policy.maxReplicas);
      gauge('autoscaler_min_replicas', 'MIN_REPLICAS of the policy', () => self.decider.policy.minReplicas);
      this.scaleEvents = new Counter({
        name: `${METRIC_PREFIX}autoscaler_scale_events_total`,
        help: 'Replica changes applied to the target, by direction',
        labelNames: ['direction'],
        registers: [registry],
      });
      this.scaleEvents.inc({ direction: 'up' }, 0);
      this.scaleEvents.inc({ direction: 'down' }, 0);
      this.loops = new Counter({
        name: `${METRIC_PREFIX}autoscaler_loops_total`,
        help: 'Rounds of the decision loop, by outcome (decided, paused, standby, target-error): shows the loop is alive',
        labelNames: ['outcome'],
        registers: [registry],
      });
      for (const outcome of ['decided', 'paused', 'standby', 'target-error']) this.loops.inc({ outcome }, 0);
      this.targetErrors = new Counter({
        name: `${METRIC_PREFIX}autoscaler_target_errors_total`,
        help: 'Failed calls to the scale target, by kind (forbidden, not-found, unreachable, …)',
        labelNames: ['kind'],
        registers: [registry],
      });
    }
  }

  /** Readiness for `/readyz`: not ready while the target answers 403 (RBAC is missing). */
  readiness(): Readiness {
    if (this.forbidden) return { ready: false, reason: `${this.forbidden.message}` };
    return { ready: true };
  }

  /** The delay before the next decision: the poll interval, or the backoff after target errors (doubling, capped). */
  get nextDelayMs(): number {
    return this.errorStreak > 0 ? this.backoffMs() : this.opts.pollIntervalMs;
  }

  /** The target's replica count as last read or set; undefined before the first decision or while standing by. */
  get replicas(): number | undefined {
    return this.current;
  }

  /** The scaling policy in force (defaults filled in). */
  get policy(): ScalingPolicy {
    return this.decider.policy;
  }

  /** Starts the loop; the first decision happens at once. */
  start(): void {
    this.loop.start();
  }

  /** One decision (exposed for tests and embedding). */
  tick(): Promise<TickOutcome> {
    this.inflight ??= this.decide()
      .then((outcome) => {
        this.loops?.inc({ outcome: outcome.kind });
        return outcome;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** Stops the loop and waits for a decision in progress (also one started by {@link tick}). Idempotent. */
  async close(): Promise<void> {
    await this.loop.close();
    await this.inflight?.catch(() => undefined);
  }

  private backoffMs(): number {
    const max = this.opts.maxBackoffMs ?? 60_000;
    return Math.min(max, this.opts.pollIntervalMs * 2 ** Math.min(10, Math.max(0, this.errorStreak - 1)));
  }

  private async decide(): Promise<TickOutcome> {
    const log = this.opts.logger;
    const leader = this.opts.isLeader?.() ?? true;
    if (leader !== this.wasLeader) {
      // A new term starts from a fresh decider: the window and the cooldown restart under this replica's
      // eyes, so state from an earlier term can never cause an immediate scale-down.
      if (leader && this.wasLeader === false) this.decider = new ScaleDecider(this.opts.policy);
      this.wasLeader = leader;
      if (!leader) {
        this.desired = this.current = this.outstanding = undefined; // the leader's metrics tell; a follower's would be stale
        log.info({ target: this.opts.target.description }, 'standing by: another replica holds the leader lease');
      }
    }
    if (!leader) return { kind: 'standby' };

    let state: TargetState;
    try {
      state = await this.opts.target.read();
    } catch (err) {
      return this.targetError(err);
    }
    this.current = state.replicas;
    if (state.paused) {
      if (!this.paused) {
        log.info(
          { target: this.opts.target.description, replicas: state.replicas },
          'target paused by the annotation stream-workers.io/paused="true": replicas left as they are until it is removed',
        );
      }
      this.paused = true;
      this.recovered();
      return { kind: 'paused', replicas: state.replicas };
    }
    if (this.paused) log.info({ target: this.opts.target.description }, 'pause annotation removed: autoscaling resumes');
    this.paused = false;

    const read = await this.opts.backlog.read(state.replicas);
    const signal: ScaleSignal = typeof read === 'object' ? read : { outstanding: read };
    const outstanding = signal.outstanding;
    this.outstanding = outstanding;
    const decision = this.decider.decide({ nowMs: this.now(), currentReplicas: state.replicas, outstanding, raw: signal.raw, busy: signal.busy });
    this.desired = decision.desired;
    const fields = {
      ...this.opts.logFields,
      target: this.opts.target.description,
      current: decision.current,
      desired: decision.desired,
      direction: decision.direction,
      reason: decision.reason,
      limitedBy: decision.limitedBy,
      outstanding: decision.outstanding ?? null,
      active: decision.active ?? null,
      raw: decision.raw ?? null,
      recommendation: decision.recommendation ?? null,
      idleS: decision.idleS === undefined ? null : Math.round(decision.idleS * 10) / 10,
      cooldownLeftS: decision.cooldownLeftS === undefined ? null : Math.round(decision.cooldownLeftS * 10) / 10,
      targetPerReplica: this.decider.policy.targetPerReplica,
      activation: this.decider.policy.activation,
      ...signal.detail,
    };
    if (decision.desired === state.replicas) {
      // Same replicas: one info line when the reasoning changes (e.g. held for missing data), debug otherwise.
      const key = `${decision.reason}|${decision.limitedBy.join(',')}|${decision.active}`;
      if (key !== this.lastDecisionKey) log.info(fields, 'scaling decision: no change');
      else log.debug(fields, 'scaling decision: no change');
      this.lastDecisionKey = key;
      this.recovered();
      return { kind: 'decided', decision, applied: false };
    }
    this.lastDecisionKey = undefined;
    try {
      await this.opts.target.scale(decision.desired);
    } catch (err) {
      return this.targetError(err);
    }
    this.current = decision.desired;
    this.scaleEvents?.inc({ direction: decision.direction });
    log.info(fields, `scaled ${decision.direction} from ${decision.current} to ${decision.desired} replicas`);
    this.recovered();
    return { kind: 'decided', decision, applied: true };
  }

  private targetError(err: unknown): TickOutcome {
    const e = err instanceof KubeApiError ? err : err instanceof Error ? err : new Error(String(err));
    const kind = e instanceof KubeApiError ? e.kind : 'error';
    this.targetErrors?.inc({ kind });
    this.errorStreak += 1;
    this.forbidden = e instanceof KubeApiError && e.kind === 'forbidden' ? e : undefined;
    const key = e instanceof KubeApiError ? `${e.kind}:${e.access.verb}:${e.access.resource}` : `error:${e.message}`;
    if (key !== this.errorKey) {
      this.errorKey = key;
      const base = { target: this.opts.target.description, kind, retryInMs: this.backoffMs() };
      if (e instanceof KubeApiError && e.kind === 'forbidden') {
        this.opts.logger.error({ ...base, missingRbac: e.rbacRule, verb: e.access.verb, resource: e.access.resource, apiGroup: e.access.apiGroup }, e.message);
      } else if (e instanceof KubeApiError && e.kind === 'not-found') {
        this.opts.logger.error({ ...base, name: e.access.name, namespace: e.access.namespace }, `scale target not found: ${e.message}; retrying with backoff`);
      } else {
        this.opts.logger.error({ ...base, ...errorFields(e) }, `scale target call failed: ${e.message}; retrying with backoff`);
      }
    }
    return { kind: 'target-error', error: e };
  }

  private recovered(): void {
    if (this.errorKey) this.opts.logger.info({ target: this.opts.target.description }, 'scale target reachable again');
    this.errorKey = undefined;
    this.errorStreak = 0;
    this.forbidden = undefined;
  }
}
