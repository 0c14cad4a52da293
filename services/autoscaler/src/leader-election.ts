import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger, Readiness, RedisConnection } from '@stream-workers/core';
import { PeriodicTask, defaultOf, errorFields, redisReadiness } from '@stream-workers/core';
import { autoscalerConfig, type AutoscalerConfig } from './config';
import { KubeApiError, kubeCall, type KubeAccess } from './kube-api-error';

/** Options for {@link LeaderElection} (defaults as client-go's leader election). */
export interface LeaderElectionOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Name of the `coordination.k8s.io/v1` Lease. */
  leaseName: string;
  /** This replica's identity (unique per replica: the pod name). */
  identity: string;
  logger: Logger;
  /** A Lease not renewed for this long may be taken over, in seconds; default LEASE_DURATION_S's (15). */
  leaseDurationS?: number;
  /** The leader steps down when it could not renew for this long, in seconds (< leaseDurationS); default 2/3 of it. */
  renewDeadlineS?: number;
  /** Time between two attempts to acquire or renew, in seconds; default 2. */
  retryPeriodS?: number;
  /** Deadline of one API call in ms; default 5000. */
  requestTimeoutMs?: number;
  /** Called on every change of leadership. */
  onChange?: (leader: boolean) => void;
  /** Clock in ms; default Date.now (tests may simulate). */
  now?: () => number;
}

/**
 * Leader election with a Lease, as client-go does: one replica holds the Lease and renews it every
 * `retryPeriodS`; the others take it over only when it went unrenewed for `leaseDurationS` as seen on
 * their own clock (no trust in other clocks), or when the holder released it. Writes use the Lease's
 * `resourceVersion`, so two candidates can never both win: the API server rejects the second (409).
 * The leader steps down by itself when it could not renew within `renewDeadlineS` (shorter than the
 * lease), so it stops acting before anyone else may start. RBAC: `get`, `create`, `update` on `leases`.
 */
export class LeaderElection {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private leader = false;
  private lastRenewAt = 0;
  private observedKey: string | undefined;
  private observedAt = 0;
  private readonly task: PeriodicTask<boolean>;
  private closing: Promise<void> | undefined;
  private lastErrorKey: string | undefined;
  /** The last API failure, if the last attempt failed (for readiness). */
  lastError: KubeApiError | undefined;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    this.leaseDurationS = opts.leaseDurationS ?? defaultOf(autoscalerConfig.specs.leaseDurationS);
    this.renewDeadlineMs = (opts.renewDeadlineS ?? (this.leaseDurationS * 2) / 3) * 1000;
    this.retryMs = (opts.retryPeriodS ?? 2) * 1000;
    this.timeoutMs = opts.requestTimeoutMs ?? 5000;
    this.now = opts.now ?? Date.now;
    if (this.renewDeadlineMs >= this.leaseDurationS * 1000) throw new RangeError('leader election: renewDeadlineS must be below leaseDurationS');
    // attempt() handles its own errors: every run is followed by the next after retryPeriodS.
    this.task = new PeriodicTask({ run: () => this.attempt(), nextDelayMs: () => this.retryMs, firstDelayMs: 'now' });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** Starts trying to acquire and then renew the Lease. */
  start(): void {
    this.task.start();
  }

  /** One acquire-or-renew attempt (exposed for tests); resolves with the leadership after it. */
  async attempt(): Promise<boolean> {
    try {
      const outcome = await this.tryAcquireOrRenew();
      this.clearError();
      if (outcome === 'won') {
        this.lastRenewAt = this.now();
        this.setLeader(true);
      } else if (outcome === 'held-by-other') {
        this.setLeader(false); // someone else holds a valid lease: never act alongside it
      } else if (this.leader && this.now() - this.lastRenewAt >= this.renewDeadlineMs) {
        this.setLeader(false);
      }
    } catch (err) {
      this.recordError(err);
      if (this.leader && this.now() - this.lastRenewAt >= this.renewDeadlineMs) {
        this.opts.logger.warn({ lease: this.opts.leaseName, renewDeadlineMs: this.renewDeadlineMs }, 'could not renew the lease in time: stepping down');
        this.setLeader(false);
      }
    }
    return this.leader;
  }

  /** Stops the loop and, when leading, releases the Lease so another replica takes over at once. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.task.close();
      if (this.leader) {
        try {
          await this.release();
          this.opts.logger.info({ lease: this.opts.leaseName, identity: this.opts.identity }, 'released the leader lease');
        } catch (err) {
          this.opts.logger.warn({ lease: this.opts.leaseName, ...errorFields(err) }, 'could not release the leader lease; it expires by itself');
        }
        this.setLeader(false);
      }
    })();
    return this.closing;
  }

  private access(verb: string): KubeAccess {
    return { verb, resource: 'leases', apiGroup: 'coordination.k8s.io', namespace: this.opts.namespace, name: this.opts.leaseName };
  }

  private async tryAcquireOrRenew(): Promise<'won' | 'held-by-other' | 'conflict'> {
    const { namespace, leaseName: name, identity } = this.opts;
    const now = this.now();
    let lease: V1Lease;
    try {
      lease = await kubeCall(this.access('get'), this.timeoutMs, () => this.api.readNamespacedLease({ name, namespace }));
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.kind !== 'not-found') throw err;
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: this.leaseDurationS,
          acquireTime: new V1MicroTime(now),
          renewTime: new V1MicroTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        await kubeCall(this.access('create'), this.timeoutMs, () => this.api.createNamespacedLease({ namespace, body }));
        return 'won';
      } catch (createErr) {
        if (createErr instanceof KubeApiError && createErr.kind === 'conflict') return 'conflict'; // another replica created it first
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    // Expiry is judged on our own clock: from when we last saw the record change.
    const key = `${holder}|${String(spec.renewTime ?? '')}|${spec.leaseTransitions ?? 0}`;
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = now;
    }
    const durationMs = (spec.leaseDurationSeconds ?? this.leaseDurationS) * 1000;
    if (holder !== '' && holder !== identity && this.observedAt + durationMs > now) return 'held-by-other';

    const mine = holder === identity;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseDurationS,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : new V1MicroTime(now),
        renewTime: new V1MicroTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      // resourceVersion from the read: the API server refuses the write (409) if anyone wrote in between.
      const updated = await kubeCall(this.access('update'), this.timeoutMs, () => this.api.replaceNamespacedLease({ name, namespace, body }));
      const s = updated.spec ?? {};
      this.observedKey = `${s.holderIdentity ?? ''}|${String(s.renewTime ?? '')}|${s.leaseTransitions ?? 0}`;
      this.observedAt = now;
      return 'won';
    } catch (err) {
      if (err instanceof KubeApiError && err.kind === 'conflict') return 'conflict';
      throw err;
    }
  }

  private async release(): Promise<void> {
    const { namespace, leaseName: name, identity } = this.opts;
    const lease = await kubeCall(this.access('get'), this.timeoutMs, () => this.api.readNamespacedLease({ name, namespace }));
    if (lease.spec?.holderIdentity !== identity) return;
    const now = new V1MicroTime(this.now());
    const body: V1Lease = {
      ...lease,
      spec: { leaseTransitions: lease.spec.leaseTransitions ?? 0, leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
    };
    await kubeCall(this.access('update'), this.timeoutMs, () => this.api.replaceNamespacedLease({ name, namespace, body }));
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.opts.logger.info({ lease: this.opts.leaseName, identity: this.opts.identity, leader }, leader ? 'became the leader' : 'not the leader any more');
    this.opts.onChange?.(leader);
  }

  private recordError(err: unknown): void {
    const e = KubeApiError.from(err, this.access('get'));
    this.lastError = e;
    const key = `${e.kind}:${e.access.verb}`;
    if (key !== this.lastErrorKey) {
      this.lastErrorKey = key;
      const fields = { lease: this.opts.leaseName, kind: e.kind, status: e.status, ...(e.kind === 'forbidden' ? { missingRbac: e.rbacRule } : {}) };
      this.opts.logger.error({ ...fields, ...errorFields(e) }, `leader election: ${e.message}`);
    }
  }

  private clearError(): void {
    if (this.lastErrorKey) this.opts.logger.info({ lease: this.opts.leaseName }, 'leader election: Kubernetes API calls succeed again');
    this.lastErrorKey = undefined;
    this.lastError = undefined;
  }
}

/** The autoscaler's election from its settings (LEADER_ELECTION, LEASE_NAME, …); undefined when it is off. */
export function electionFor(
  config: Pick<AutoscalerConfig, 'leaderElection' | 'namespace' | 'leaseName' | 'identity' | 'leaseDurationS'>,
  kubeConfig: KubeConfig,
  logger: Logger,
): LeaderElection | undefined {
  if (!config.leaderElection) return undefined;
  return new LeaderElection({
    kubeConfig,
    namespace: config.namespace,
    leaseName: config.leaseName,
    identity: config.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`,
    leaseDurationS: config.leaseDurationS,
    logger,
  });
}

/**
 * The autoscaler's `/readyz` (single-target and pools mode): not while it shuts down or Redis is
 * unreachable, not while the election lacks the RBAC to run (a forbidden Lease), else what `inner`
 * says (the autoscaler's or the pool set's own readiness).
 */
export function autoscalerReadiness(redis: () => RedisConnection, draining: () => boolean, election: LeaderElection | undefined, inner: () => Readiness): () => Readiness {
  return () => {
    const base = redisReadiness(redis(), draining)();
    if (!base.ready) return base;
    if (election?.lastError?.kind === 'forbidden') return { ready: false, reason: election.lastError.message };
    return inner();
  };
}
