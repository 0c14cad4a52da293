import { deadLetterKey, keyModeOf, shardKeys, type KeyMode, type Readiness } from '@stream-workers/core';
import type { Handler } from './handler';
import { resolveSinks, resolveWorkerOptions } from './options';
import type { WorkerEventName, WorkerListener } from './events';
import { createWorkerMetrics } from './worker-metrics';
import { Worker, type CloseOptions, type WorkerOptions } from './worker';

/** Options of {@link ShardedWorker}: a worker's options plus the shards of its stream. */
export interface ShardedWorkerOptions extends WorkerOptions {
  /** Shards of `stream` (`STREAM_SHARDS`): the worker reads `stream{0}` … `stream{N-1}`. */
  shards: number;
  /** How dead-letter keys are named (`{ cluster: true }` in Redis Cluster); default from the connection settings. */
  keyMode?: KeyMode;
}

/**
 * One worker process reading every shard of a sharded stream (docs/design.md, "Redis keys"): one
 * {@link Worker} per shard under the same group and consumer name, each with its own read and command
 * connection, its own dead-letter stream (`S{i}:dlq`), claims and retries, created group and drain.
 *
 * Why a read loop per shard rather than one XREADGROUP over N keys: in Redis Cluster the shards sit on
 * different primaries and a multi-key read must stay within one slot, so each shard needs a connection
 * to its own node anyway; one code path then serves one server and a cluster alike, and a slow or
 * moved shard blocks only its own loop. The cost is N blocked connections per worker process (cheap for
 * Redis) and N sets of timers.
 *
 * `concurrency` is the process's bound: each shard runs at most ⌈concurrency / N⌉ handlers (a hot shard
 * cannot borrow an idle shard's slots). `batchSize` applies per read, as without shards. Metrics are
 * one set for the process (counters summed, gauges the sum over the shards).
 */
export class ShardedWorker {
  /** The per-shard workers, in shard order. */
  readonly shards: readonly Worker[];

  constructor(opts: ShardedWorkerOptions, handler: Handler) {
    const o = resolveWorkerOptions(opts, handler); // checks every option before anything connects
    const n = opts.shards;
    const keys = shardKeys(o.stream, n); // a RangeError names the allowed range
    if (n > 1 && opts.deadLetterStream !== undefined) {
      throw new RangeError(`createWorker: option deadLetterStream cannot be set with shards > 1 (each shard has its own, <stream>{i}:dlq), got ${JSON.stringify(opts.deadLetterStream)}`);
    }
    const sinks = resolveSinks(opts);
    const metrics = createWorkerMetrics(sinks.registry, {
      running: () => this.sum((w) => w.stats().running),
      held: () => this.sum((w) => w.stats().held),
      redisOk: () => this.shards.every((w) => w.stats().redisOk),
    });
    const concurrency = Math.max(1, Math.ceil(o.concurrency / n));
    const mode = opts.keyMode ?? keyModeOf(o.redis);
    this.shards = keys.map((key, i) => new Worker({
      ...opts,
      stream: key,
      deadLetterStream: opts.deadLetterStream ?? deadLetterKey(key, mode),
      concurrency,
      logger: n > 1 ? sinks.logger.child({ shard: i }) : sinks.logger,
      registry: sinks.registry,
    }, handler, { metrics }));
  }

  private sum(f: (w: Worker) => number): number {
    let t = 0;
    for (const w of this.shards) t += f(w);
    return t;
  }

  /** Ready while every shard is ready; otherwise the first shard's reason, naming the shard. */
  readiness(): Readiness {
    for (let i = 0; i < this.shards.length; i++) {
      const r = this.shards[i]!.readiness();
      if (!r.ready) return this.shards.length > 1 ? { ready: false, reason: `shard ${i}: ${r.reason}` } : r;
    }
    return { ready: true };
  }

  /** Listens to an event of every shard's worker (see {@link Worker.on}): `drained` comes once per shard, with that shard's summary. */
  on<E extends WorkerEventName>(event: E, listener: WorkerListener<E>): this {
    for (const w of this.shards) w.on(event, listener);
    return this;
  }

  /** Starts every shard (see {@link Worker.start}); never rejects for Redis trouble. */
  async start(): Promise<void> {
    await Promise.all(this.shards.map((w) => w.start()));
  }

  /** Drains and closes every shard at once (see {@link Worker.close}). Idempotent. */
  async close(options: CloseOptions = {}): Promise<void> {
    await Promise.all(this.shards.map((w) => w.close(options)));
  }

  /** Entries pending for this consumer, over every shard. */
  async pendingCount(): Promise<number> {
    const counts = await Promise.all(this.shards.map((w) => w.pendingCount()));
    return counts.reduce((a, b) => a + b, 0);
  }
}
