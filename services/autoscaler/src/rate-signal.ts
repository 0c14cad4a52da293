import {
  RateEstimator,
  errorFields,
  outstandingOf,
  parseGroupsInfo,
  parseStreamInfo,
  rateDesiredReplicas,
  ratePolicy,
  type Logger,
  type RatePolicy,
  type RedisConnection,
} from '@stream-workers/core';

/**
 * What a signal source gives one decision: outstanding (undefined = unreadable: the decider holds),
 * and in the rate mode the replica count it computed and whether entries are arriving.
 */
export interface ScaleSignal {
  outstanding: number | undefined;
  /** The mode's unclamped replica count; undefined = the lag mode's ceil(outstanding / target). */
  raw?: number | undefined;
  /** Entries arrived within the window (keeps running replicas active). */
  busy?: boolean;
  /** Extra fields for the decision log line. */
  detail?: Record<string, number | boolean | null>;
}

/** Reads a group's backlog with its lag (core's `readGroupBacklog`), injectable for tests. */
export type RateBacklogReader = (
  redis: RedisConnection,
  stream: string,
  group: string,
) => Promise<{ status: 'ok'; backlog: { outstanding: number; lag: number } } | { status: 'no-stream' } | { status: 'no-group'; streamLength: number }>;

/** Options for {@link RateSignal}. */
export interface RateSignalOptions {
  redis: RedisConnection;
  stream: string;
  group: string;
  read: RateBacklogReader;
  logger: Logger;
  policy?: Partial<RatePolicy>;
  /** Clock in ms; default Date.now. */
  now?: () => number;
}

/**
 * A consumer counts as serving when it read (or tried to) within this many ms: a worker that keeps
 * reading, as every busy worker does while entries wait. A replica still starting (no XREADGROUP yet)
 * or one that is gone does not.
 */
export const SERVING_IDLE_MS = 3000;

/** Consumers of an `XINFO CONSUMERS` reply (RESP2) whose `idle` is below `maxIdleMs`. */
export function servingConsumers(reply: unknown, maxIdleMs = SERVING_IDLE_MS): number {
  if (!Array.isArray(reply)) return 0;
  let n = 0;
  for (const c of reply) {
    if (!Array.isArray(c)) continue;
    const i = c.indexOf('idle');
    const idle = i >= 0 ? Number(c[i + 1]) : NaN;
    if (Number.isFinite(idle) && idle < maxIdleMs) n += 1;
  }
  return n;
}

/** The group's counters from `XINFO STREAM` / `GROUPS` / `CONSUMERS`, or undefined when Redis gives none (< 7, no group). */
async function readCounters(redis: RedisConnection, stream: string, group: string): Promise<{ added: number; read: number; pending: number; serving: number } | undefined> {
  const res = await redis.pipeline().xinfo('STREAM', stream).xinfo('GROUPS', stream).xinfo('CONSUMERS', stream, group).exec();
  if (!res) return undefined;
  const [[sErr, s], [gErr, g], [cErr, c]] = res as [[Error | null, unknown], [Error | null, unknown], [Error | null, unknown]];
  if (sErr || gErr || cErr) return undefined; // no stream or group (yet): the lag count applies
  const added = parseStreamInfo(s).entriesAdded;
  const gi = parseGroupsInfo(g).find((x) => x.name === group);
  if (added === undefined || !gi || typeof gi.entriesRead !== 'number') return undefined;
  return { added, read: gi.entriesRead, pending: gi.pending, serving: servingConsumers(c) };
}

const round1 = (n: number | undefined): number | null => (n === undefined ? null : Math.round(n * 10) / 10);

/**
 * The rate mode's signal (SCALING_MODE=rate, services/core/src/scaling/rate-math.ts): each decision
 * reads the backlog (outstanding, lag) and the group's counters (`entries-added`, `entries-read`,
 * pending), feeds a {@link RateEstimator}, and gives the decider the rate count. Until one replica's
 * service rate has been measured (a window with the workers busy), or where Redis gives no counters,
 * the lag count applies.
 */
export class RateSignal {
  private readonly estimator: RateEstimator;
  private readonly policy: RatePolicy;
  private readonly now: () => number;
  private failing = false;

  constructor(private readonly opts: RateSignalOptions) {
    this.policy = ratePolicy(opts.policy);
    this.estimator = new RateEstimator(this.policy.rateWindowS);
    this.now = opts.now ?? Date.now;
  }

  async read(currentReplicas: number): Promise<ScaleSignal> {
    const { redis, stream, group } = this.opts;
    let obs;
    let counters;
    try {
      [obs, counters] = await Promise.all([this.opts.read(redis, stream, group), readCounters(redis, stream, group)]);
    } catch (err) {
      if (!this.failing) this.opts.logger.warn({ stream, group, ...errorFields(err) }, 'cannot read the backlog: holding the current replica count (or FALLBACK_REPLICAS)');
      this.failing = true;
      return { outstanding: undefined };
    }
    if (this.failing) this.opts.logger.info({ stream, group }, 'backlog readable again');
    this.failing = false;
    const outstanding = outstandingOf(obs);
    const waiting = obs.status === 'ok' ? obs.backlog.lag : outstanding;
    if (!counters) return { outstanding, detail: { mode: null, waiting } };
    // The replicas that serve: the target's count, less those not reading yet (a worker process or pod
    // still starting would make one replica's capacity look smaller than it is).
    const { serving, ...c } = counters;
    const est = this.estimator.add({ t: this.now(), ...c, lag: waiting, replicas: Math.min(currentReplicas, serving) });
    const raw = rateDesiredReplicas({ arrivalRate: est.arrivalRate ?? 0, servicePerReplica: est.servicePerReplica, waiting }, this.policy, currentReplicas);
    return {
      outstanding,
      raw,
      busy: (est.arrivalRate ?? 0) > 0,
      detail: {
        waiting,
        arrivalRate: round1(est.arrivalRate),
        arrivalRise: round1(est.arrivalRise),
        processedRate: round1(est.processedRate),
        servicePerReplica: round1(est.servicePerReplica),
        saturated: est.saturated,
        serving,
        rateCount: raw ?? null,
      },
    };
  }
}
