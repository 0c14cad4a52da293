import { Counter, Gauge, type Registry } from 'prom-client';
import { LuaScript, METRIC_PREFIX, PeriodicTask, defaultOf, errorFields, isNoGroup, isNoSuchKey, shardKeys, type Logger, type RedisConnection } from '@stream-workers/core';
import { autoscalerConfig } from './config';

/** What the janitor knows about the worker behind a consumer name. */
export type ConsumerLiveness = 'alive' | 'gone' | 'unknown';

/** Takes a snapshot of the live workers (one pod list) and answers per consumer name. */
export type LivenessProbe = () => Promise<(consumer: string) => ConsumerLiveness>;

/** One consumer of the group, from XINFO CONSUMERS. */
export interface ConsumerInfo {
  name: string;
  pending: number;
  idleMs: number;
}

/** What one janitor run did. */
export interface JanitorReport {
  consumers: number;
  deleted: string[];
  /** Consumers of gone workers kept because they still hold entries (live workers reclaim them first). */
  keptPending: Array<{ name: string; pending: number }>;
  /** Consumers that became busy between the listing and the delete (the atomic check refused). */
  raced: string[];
  /** True when the run did nothing because the stream or group does not exist. */
  noGroup: boolean;
}

/** Options for {@link Janitor}. */
export interface JanitorOptions {
  /** A `command` connection. */
  redis: RedisConnection;
  stream: string;
  group: string;
  logger: Logger;
  probe: LivenessProbe;
  /** Minimum idle time in ms of a consumer whose worker is gone before it is deleted; default 0. */
  goneMinIdleMs?: number;
  /**
   * Consumers whose worker cannot be identified (`unknown`) are deleted when idle at least this long
   * (ms) with 0 pending; undefined = never (on Kubernetes every consumer is judged by its pod).
   */
  unknownIdleMs?: number;
  /** Time between runs in ms (for {@link start}); default JANITOR_INTERVAL_MS's. */
  intervalMs?: number;
  /** Runs only while this returns true (leader election); default always. */
  shouldRun?: () => boolean;
  registry?: Registry;
  /** Where the run's figures go instead of `registry`'s own series (pools mode: series labelled by pool). */
  metrics?: JanitorMetrics;
}

/** The janitor's two figures: consumers deleted (a counter) and consumers kept with pending entries (a gauge). */
export interface JanitorMetrics {
  deleted: { inc(n: number): void };
  kept: { set(n: number): void };
}

/**
 * Per-shard sinks of one janitor sink, for a sharded stream (one janitor per shard key): deletions add
 * up, and the kept gauge shows the sum of every shard's last run (not the last shard's alone).
 */
export function perShardJanitorMetrics(sink: JanitorMetrics, shards: number): (i: number) => JanitorMetrics {
  const kept = new Array<number>(shards).fill(0);
  return (i) => ({
    deleted: sink.deleted,
    kept: {
      set: (n) => {
        kept[i] = n;
        sink.kept.set(kept.reduce((a, b) => a + b, 0));
      },
    },
  });
}

/** Several janitors (one per shard key of a sharded stream) started and closed as one. */
export class JanitorGroup {
  constructor(
    /** The janitors, one per shard key. */
    readonly janitors: readonly Janitor[],
  ) {}

  /** Starts every janitor. */
  start(): void {
    for (const j of this.janitors) j.start();
  }

  /** Closes every janitor (waits for runs in progress). Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.janitors.map((j) => j.close()));
  }
}

/**
 * One janitor per shard key of `stream` (`shards` 1: the stream itself), sharing one sink: `metrics`,
 * or the counter and gauge registered in `registry`.
 */
export function shardJanitors(opts: Omit<JanitorOptions, 'metrics' | 'registry'> & { shards: number; metrics?: JanitorMetrics; registry?: Registry }): JanitorGroup {
  const { shards, metrics, registry, ...rest } = opts;
  const sink = metrics ?? (registry ? registerJanitorMetrics(registry) : undefined);
  const perShard = sink ? perShardJanitorMetrics(sink, shards) : undefined;
  return new JanitorGroup(shardKeys(opts.stream, shards).map((key, i) => new Janitor({ ...rest, stream: key, ...(perShard ? { metrics: perShard(i) } : {}) })));
}

/** The janitor's counter and gauge in `registry` (names in docs/design.md, "Metrics"). */
function registerJanitorMetrics(registry: Registry): JanitorMetrics {
  const deleted = new Counter({
    name: `${METRIC_PREFIX}autoscaler_janitor_consumers_deleted_total`,
    help: 'Consumers of gone workers deleted by the janitor (each had 0 pending entries)',
    registers: [registry],
  });
  const kept = new Gauge({
    name: `${METRIC_PREFIX}autoscaler_janitor_consumers_kept_pending`,
    help: 'Consumers of gone workers kept at the last janitor run because they still hold pending entries',
    registers: [registry],
  });
  return { deleted: { inc: (n) => deleted.inc(n) }, kept: { set: (n) => kept.set(n) } };
}

/** The atomic check-and-delete of a consumer (return codes in core's lua/delete-consumer-if-empty.lua). */
const DELETE_IF_EMPTY = new LuaScript('delete-consumer-if-empty');

/**
 * The dead-consumer janitor: consumers of workers that are gone pile up in XINFO CONSUMERS. Each run
 * lists the group's consumers and the live workers; a consumer whose worker is gone (or, where workers
 * cannot be identified, idle ≥ `unknownIdleMs`) is deleted only when it has 0 pending entries, checked
 * atomically with the delete. A consumer that holds entries is never deleted: live workers reclaim its
 * entries with XAUTOCLAIM first, and a later run deletes it.
 */
export class Janitor {
  private readonly task: PeriodicTask<unknown>;
  private failing = false;
  private readonly keptLogged = new Map<string, number>();
  private readonly deletedTotal: JanitorMetrics['deleted'] | undefined;
  private readonly keptGauge: JanitorMetrics['kept'] | undefined;

  constructor(private readonly opts: JanitorOptions) {
    const intervalMs = opts.intervalMs ?? defaultOf(autoscalerConfig.specs.janitorIntervalMs);
    this.task = new PeriodicTask<unknown>({
      // A failed run is logged by runOnce (once per failure streak) and retried at the next interval.
      run: () => ((opts.shouldRun?.() ?? true) ? this.runOnce() : Promise.resolve()),
      nextDelayMs: () => intervalMs,
      firstDelayMs: intervalMs,
    });
    const sink = opts.metrics ?? (opts.registry ? registerJanitorMetrics(opts.registry) : undefined);
    this.deletedTotal = sink?.deleted;
    this.keptGauge = sink?.kept;
  }

  /** Runs every `intervalMs` until {@link close}. */
  start(): void {
    this.task.start();
  }

  /** One run. Errors are logged once per failure streak and rethrown. */
  async runOnce(): Promise<JanitorReport> {
    const { stream, group, logger } = this.opts;
    const report: JanitorReport = { consumers: 0, deleted: [], keptPending: [], raced: [], noGroup: false };
    try {
      let consumers: ConsumerInfo[];
      try {
        consumers = await this.listConsumers();
      } catch (err) {
        if (isNoSuchKey(err) || isNoGroup(err)) {
          report.noGroup = true;
          return report;
        }
        throw err;
      }
      report.consumers = consumers.length;
      if (consumers.length === 0) return report;
      const liveness = await this.opts.probe();
      for (const c of consumers) {
        const state = liveness(c.name);
        let minIdle: number;
        if (state === 'alive') continue;
        if (state === 'gone') minIdle = this.opts.goneMinIdleMs ?? 0;
        else if (this.opts.unknownIdleMs !== undefined) minIdle = this.opts.unknownIdleMs;
        else continue;
        if (c.idleMs < minIdle) continue;
        if (c.pending > 0) {
          report.keptPending.push({ name: c.name, pending: c.pending });
          continue;
        }
        const r = Number(await DELETE_IF_EMPTY.run(this.opts.redis, [stream], [group, c.name, String(minIdle)]));
        if (r === 1) {
          report.deleted.push(c.name);
          logger.info({ stream, group, consumer: c.name, worker: state, idleMs: c.idleMs }, 'janitor: deleted the consumer of a gone worker (0 pending)');
        } else if (r === -1 || r === -2) {
          report.raced.push(c.name);
        }
      }
      this.deletedTotal?.inc(report.deleted.length);
      this.keptGauge?.set(report.keptPending.length);
      this.logKept(report.keptPending);
      if (this.failing) logger.info({ stream, group }, 'janitor: runs succeed again');
      this.failing = false;
      return report;
    } catch (err) {
      if (!this.failing) logger.warn({ stream, group, ...errorFields(err) }, 'janitor run failed; retrying at the next interval');
      this.failing = true;
      throw err;
    }
  }

  /** Stops the timer and waits for a run in progress. Idempotent. */
  close(): Promise<void> {
    return this.task.close();
  }

  private async listConsumers(): Promise<ConsumerInfo[]> {
    const raw = (await this.opts.redis.xinfo('CONSUMERS', this.opts.stream, this.opts.group)) as unknown[];
    return raw.map((entry) => {
      const fields = entry as unknown[];
      const o: Record<string, unknown> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) o[String(fields[i])] = fields[i + 1];
      return { name: String(o.name), pending: Number(o.pending ?? 0), idleMs: Number(o.idle ?? 0) };
    });
  }

  /** One line per consumer kept for its pending entries, again only when its count changes. */
  private logKept(kept: Array<{ name: string; pending: number }>): void {
    const seen = new Set<string>();
    for (const k of kept) {
      seen.add(k.name);
      if (this.keptLogged.get(k.name) === k.pending) continue;
      this.keptLogged.set(k.name, k.pending);
      this.opts.logger.info(
        { stream: this.opts.stream, group: this.opts.group, consumer: k.name, pending: k.pending },
        'janitor: the consumer of a gone worker still holds entries; kept until live workers reclaim them (XAUTOCLAIM)',
      );
    }
    for (const name of [...this.keptLogged.keys()]) if (!seen.has(name)) this.keptLogged.delete(name);
  }
}
