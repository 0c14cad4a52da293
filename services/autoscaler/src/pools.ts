import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX, errorFields, type Logger, type Readiness } from '@stream-workers/core';
import { Autoscaler, type AutoscalerOptions, type TickOutcome } from './autoscaler';
import { KubeApiError } from './kube-api-error';
import type { JanitorMetrics } from './janitor';
import type { PoolSpec } from './pools-config';
import type { ScaleTarget } from './scale-target';

/** What a pool's decision loop needs besides its spec. */
export interface PoolParts {
  target: ScaleTarget;
  /** The pool's signal: its backlog (lag mode) or its RateSignal (rate mode). */
  backlog: AutoscalerOptions['backlog'];
}

/** Options for {@link PoolSet}. */
export interface PoolSetOptions {
  pools: Array<{ spec: PoolSpec } & PoolParts>;
  logger: Logger;
  registry?: Registry;
  /** Decides only while this returns true (leader election); default always. */
  isLeader?: () => boolean;
  /** Longest retry delay after target errors; default 60000 ms. */
  maxBackoffMs?: number;
  now?: () => number;
}

/** The metrics of every pool: the single-target autoscaler's names with a `pool` label. */
class PoolMetrics {
  private readonly desired: Gauge<'pool'>;
  private readonly current: Gauge<'pool'>;
  private readonly outstanding: Gauge<'pool'>;
  private readonly paused: Gauge<'pool'>;
  private readonly scaleEvents: Counter<'pool' | 'direction'>;
  private readonly loops: Counter<'pool' | 'outcome'>;
  private readonly targetErrors: Counter<'pool' | 'kind'>;
  private readonly janitorDeleted: Counter<'pool'>;
  private readonly janitorKept: Gauge<'pool'>;

  constructor(registry: Registry, pools: PoolSpec[], isLeader: () => boolean) {
    const gauge = (name: string, help: string, labelNames: Array<'pool'> = ['pool']) => new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [registry] });
    this.desired = gauge('autoscaler_desired_replicas', 'Replica count of the last scaling decision, per pool');
    this.current = gauge('autoscaler_current_replicas', 'Replica count of the pool\'s Deployment as last read');
    this.outstanding = gauge('autoscaler_outstanding', 'Outstanding entries (lag + pending) of the pool\'s group as last read; absent while unreadable');
    this.paused = gauge('autoscaler_paused', '1 while the pool\'s Deployment carries stream-workers.io/paused: "true"');
    const max = gauge('autoscaler_max_replicas', 'maxReplicas of the pool');
    const min = gauge('autoscaler_min_replicas', 'minReplicas of the pool');
    new Gauge({ name: `${METRIC_PREFIX}autoscaler_leader`, help: '1 when this replica holds the leader lease and makes the decisions', registers: [registry], collect() { this.set(isLeader() ? 1 : 0); } });
    this.scaleEvents = new Counter({ name: `${METRIC_PREFIX}autoscaler_scale_events_total`, help: 'Replica changes applied, per pool and direction', labelNames: ['pool', 'direction'], registers: [registry] });
    this.loops = new Counter({ name: `${METRIC_PREFIX}autoscaler_loops_total`, help: 'Rounds of each pool\'s decision loop, by outcome', labelNames: ['pool', 'outcome'], registers: [registry] });
    this.targetErrors = new Counter({ name: `${METRIC_PREFIX}autoscaler_target_errors_total`, help: 'Failed calls to a pool\'s Deployment, by kind', labelNames: ['pool', 'kind'], registers: [registry] });
    this.janitorDeleted = new Counter({ name: `${METRIC_PREFIX}autoscaler_janitor_consumers_deleted_total`, help: 'Consumers of gone workers deleted by the pool\'s janitor (each had 0 pending entries)', labelNames: ['pool'], registers: [registry] });
    this.janitorKept = gauge('autoscaler_janitor_consumers_kept_pending', 'Consumers of gone workers kept at the pool\'s last janitor run because they still hold pending entries');
    for (const p of pools) {
      max.set({ pool: p.name }, p.maxReplicas);
      min.set({ pool: p.name }, p.minReplicas);
      this.paused.set({ pool: p.name }, 0);
      for (const direction of ['up', 'down']) this.scaleEvents.inc({ pool: p.name, direction }, 0);
      for (const outcome of ['decided', 'paused', 'standby', 'target-error']) this.loops.inc({ pool: p.name, outcome }, 0);
    }
  }

  /** The janitor figures of one pool (its series labelled `pool`). */
  janitor(pool: string): JanitorMetrics {
    this.janitorDeleted.inc({ pool }, 0);
    return { deleted: { inc: (n) => this.janitorDeleted.inc({ pool }, n) }, kept: { set: (n) => this.janitorKept.set({ pool }, n) } };
  }

  record(pool: string, outcome: TickOutcome): void {
    this.loops.inc({ pool, outcome: outcome.kind });
    if (outcome.kind === 'standby') {
      // A follower's figures would be stale: the leader's tell.
      for (const g of [this.desired, this.current, this.outstanding]) g.remove({ pool });
    } else if (outcome.kind === 'paused') {
      this.paused.set({ pool }, 1);
      this.current.set({ pool }, outcome.replicas);
    } else if (outcome.kind === 'target-error') {
      this.targetErrors.inc({ pool, kind: outcome.error instanceof KubeApiError ? outcome.error.kind : 'error' });
    } else {
      const d = outcome.decision;
      this.paused.set({ pool }, 0);
      this.desired.set({ pool }, d.desired);
      this.current.set({ pool }, outcome.applied ? d.desired : d.current);
      if (d.outstanding === undefined) this.outstanding.remove({ pool });
      else this.outstanding.set({ pool }, d.outstanding);
      if (outcome.applied && d.direction !== 'none') this.scaleEvents.inc({ pool, direction: d.direction });
    }
  }
}

/**
 * Several pools served by one autoscaler: one {@link Autoscaler} decision loop per pool (its own
 * target, backlog, policy, poll interval and backoff), driven here so that every pool's metrics carry
 * a `pool` label. A failing pool (403, 404, Redis) never delays the others: each loop has its own timer.
 */
export class PoolSet {
  private readonly loops: Array<{ spec: PoolSpec; scaler: Autoscaler; timer: NodeJS.Timeout | undefined; inflight: Promise<void> | undefined }>;
  private readonly metrics: PoolMetrics | undefined;
  private closed = false;

  constructor(private readonly opts: PoolSetOptions) {
    const isLeader = opts.isLeader ?? (() => true);
    this.metrics = opts.registry ? new PoolMetrics(opts.registry, opts.pools.map((p) => p.spec), isLeader) : undefined;
    this.loops = opts.pools.map(({ spec, target, backlog }) => ({
      spec,
      timer: undefined,
      inflight: undefined,
      scaler: new Autoscaler({
        target,
        backlog,
        policy: {
          targetPerReplica: spec.targetPerReplica,
          activation: spec.activation,
          minReplicas: spec.minReplicas,
          maxReplicas: spec.maxReplicas,
          cooldownS: spec.cooldownS,
          scaleDownWindowS: spec.scaleDownWindowS,
          fallbackReplicas: spec.fallbackReplicas,
        },
        pollIntervalMs: spec.pollIntervalMs,
        logger: opts.logger.child({ pool: spec.name }),
        isLeader,
        ...(opts.maxBackoffMs !== undefined ? { maxBackoffMs: opts.maxBackoffMs } : {}),
        ...(opts.now ? { now: opts.now } : {}),
        logFields: { pool: spec.name, stream: spec.stream, group: spec.group },
      }),
    }));
  }

  /** Names of the pools served. */
  get names(): string[] {
    return this.loops.map((l) => l.spec.name);
  }

  /** Where pool `name`'s janitor reports (undefined without a registry). */
  janitorMetrics(name: string): JanitorMetrics | undefined {
    return this.metrics?.janitor(this.loop(name).spec.name);
  }

  /** Replicas of pool `name`'s Deployment as last read (undefined before the first read). */
  replicas(name: string): number | undefined {
    return this.loop(name).scaler.replicas;
  }

  private loop(name: string): (typeof this.loops)[number] {
    const loop = this.loops.find((l) => l.spec.name === name);
    if (!loop) throw new Error(`no pool named ${name} (pools: ${this.names.join(', ')})`);
    return loop;
  }

  /** Not ready while any pool's Deployment answers 403 (its reason names the pool). */
  readiness(): Readiness {
    for (const l of this.loops) {
      const r = l.scaler.readiness();
      if (!r.ready) return { ready: false, reason: `pool ${l.spec.name}: ${r.reason}` };
    }
    return { ready: true };
  }

  /** One decision of pool `name` (tests and embedding). */
  async tick(name: string): Promise<TickOutcome> {
    const outcome = await this.loop(name).scaler.tick();
    this.metrics?.record(name, outcome);
    return outcome;
  }

  /** Starts every pool's loop; each decides at once, then every pollIntervalMs (or its backoff). */
  start(): void {
    for (const loop of this.loops) {
      if (this.closed || loop.timer || loop.inflight) continue;
      const run = (delayMs: number): void => {
        loop.timer = setTimeout(() => {
          loop.timer = undefined;
          loop.inflight = this.tick(loop.spec.name).then(
            () => undefined,
            (err: unknown) => this.opts.logger.error({ pool: loop.spec.name, ...errorFields(err) }, 'unexpected error in a pool decision loop'),
          ).finally(() => {
            loop.inflight = undefined;
            if (!this.closed) run(loop.scaler.nextDelayMs);
          });
        }, delayMs);
        loop.timer.unref();
      };
      run(0);
    }
  }

  /** Stops every loop and waits for decisions in progress. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.loops) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = undefined;
    }
    await Promise.all(this.loops.map((l) => l.inflight));
    await Promise.all(this.loops.map((l) => l.scaler.close()));
  }
}
