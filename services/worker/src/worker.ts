import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { StreamConsumer, createGroup, createRedis, errorFields, type Contract, type EnvelopeName, type Readiness, type RedisSettings } from '@stream-workers/core';
import { EntryDecoder } from './decode';
import type { Handler } from './handler';
import { resolveSinks, resolveWorkerOptions, type ResolvedWorkerOptions } from './options';
import { WorkerEmitter, type WorkerEventName, type WorkerListener } from './events';
import { createWorkerMetrics, type WorkerMetrics } from './worker-metrics';
import { WorkerState } from './state';
import { AckBatcher } from './acks';
import { Scheduler } from './scheduler';
import { Ownership } from './ownership';
import { ReadLoop } from './read-loop';
import { Drain } from './drain';

export { FORCE_CLOSE_MS } from './drain';

/** Options of {@link Worker}; defaults as in docs/design.md ("Runtime contract"). */
export interface WorkerOptions {
  // Each option is checked against its environment variable's rule (options.ts, OPTION_SPECS).
  /** One server: `redis://…` or `rediss://…` (ACL user and password in the URL). Set this or `redis`. */
  redisUrl?: string;
  /** Any topology (one server, Sentinel, Cluster), credentials and TLS: core `RedisSettings` (`parseRedisSettings(process.env)`). Set this or `redisUrl`. */
  redis?: RedisSettings;
  /** The stream read. */
  stream: string;
  /** The consumer group read in (created when missing). */
  group: string;
  /** Consumer name (the pod name on Kubernetes): a restarted pod with the same name resumes its pending entries. */
  consumer: string;
  /** Start id of a group this worker creates (also when it recreates a deleted one); default `0` (the whole stream). */
  groupStartId?: string;
  /** Entries per XREADGROUP; default 100. The worker holds fewer than `concurrency + 3 × batchSize` entries (reads ahead while a backlog lasts). */
  batchSize?: number;
  /** Handlers running at once; default 50. */
  concurrency?: number;
  /** XREADGROUP BLOCK in ms; default 2000. */
  blockMs?: number;
  /** Deliveries after which a failing entry goes to the dead-letter stream; default 5. */
  maxDeliveries?: number;
  /** Idle ms after which other consumers' pending entries are reclaimed (never earlier); default 60000. */
  claimIdleMs?: number;
  /** Base delay in ms before this worker retries a failed entry; doubles per delivery, capped at claimIdleMs/2; default 1000. */
  retryDelayMs?: number;
  /** Dead-letter stream; default `<stream>:dlq`. */
  deadLetterStream?: string;
  /** Time in ms in-flight handlers get to finish on close(); then their signal is aborted; default 25000. */
  shutdownGraceMs?: number;
  /** A command (XACK, XCLAIM, …) without reply for this many ms resets the command connection; default 10000. */
  commandTimeoutMs?: number;
  /** How entries are read: `cloudevents` (default), `json-field` or `fields` (docs/worker.md, "Envelope codecs"). */
  envelope?: EnvelopeName;
  /** The field `json-field` reads; default `event`. */
  envelopeField?: string;
  /** Payload contracts per type and version; a payload that fails is dead-lettered at once (reason `schema`). */
  contracts?: readonly Contract[];
  /** pino logger; default a JSON logger on stdout (`service: stream-workers-worker`, level `info`). */
  logger?: Logger;
  /** Registry for the worker's metrics (never the global one); default a fresh registry of its own. */
  registry?: Registry;
}

/** What {@link Worker.stats} returns. */
export interface WorkerStats {
  /** Handlers running now. */
  running: number;
  /** Entries held: running, read and queued, or waiting for a retry. */
  held: number;
  /** True while the worker reads from Redis without errors. */
  redisOk: boolean;
}

/** Options of {@link Worker.close}. */
export interface CloseOptions {
  /**
   * Stop at once: do not wait for running handlers. They are abandoned (their `ctx.signal` aborts;
   * nothing they finish afterwards is acked), their entries stay pending and other consumers reclaim
   * them after claimIdleMs. Entries read but not started are handed back. The Redis steps (stop the
   * read, flush the acks of handlers that finished, hand back) get at most {@link FORCE_CLOSE_MS}.
   * Also cuts short a close() already draining.
   */
  force?: boolean;
}

/**
 * Consumes one stream through one consumer group, at least once, batched and pipelined.
 *
 * - Reads its own pending entries first (id `0`: a restarted consumer resumes), then new ones (`>`),
 *   `batchSize` at a time on a blocking connection of its own; at most `concurrency` handlers run,
 *   and the next batch is read while they run (fewer than `concurrency + 3 × batchSize` entries held).
 * - Acks are collected into multi-id XACKs on the command connection, sent while the next read is in
 *   flight: no round trip per event.
 * - Every claimIdleMs/3 it re-claims the entries it holds to itself (XCLAIM … JUSTID, only those it
 *   still owns), so a slow handler is never reclaimed elsewhere while this worker lives.
 * - Every claimIdleMs/2 it reclaims other consumers' entries idle ≥ claimIdleMs (XAUTOCLAIM), never earlier.
 * - A failed handler leaves the entry pending; this worker retries it after a backoff (XCLAIM counts
 *   the delivery); the delivery that reaches maxDeliveries and fails moves it to the dead-letter stream,
 *   acked in the same MULTI. An entry that is not a valid envelope is dead-lettered on first delivery
 *   (`malformed`).
 * - NOGROUP (stream or group deleted) recreates the group at groupStartId; Redis errors back off
 *   (capped at 5 s); both log only on state changes. A read without reply well past BLOCK resets the
 *   connection.
 * - close(): stops reading, lets in-flight and already-read entries finish within shutdownGraceMs
 *   (then aborts `ctx.signal`), flushes acks, hands back what is left (marked idle so others reclaim it
 *   at once), deletes its consumer only when it holds nothing pending. Idempotent. close({ force: true })
 *   abandons running handlers instead: their entries stay pending, reclaimed elsewhere after claimIdleMs.
 * - Events (`on`): `error`, `failed`, `deadLettered`, `drained`, emitted where the worker logs them.
 */
export class Worker {
  private readonly o: ResolvedWorkerOptions;
  private readonly s: WorkerState;
  private readonly events: WorkerEmitter;
  private readonly consumer: StreamConsumer;
  private readonly sched: Scheduler;
  private readonly ownership: Ownership;
  private readonly drainer: Drain;
  private startedOnce = false;
  private closing: Promise<void> | undefined;
  private loopDone: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];

  /**
   * @param opts The options (checked before anything connects).
   * @param handler Runs once per delivery.
   */
  constructor(opts: WorkerOptions, handler: Handler);
  /** @internal ShardedWorker: metrics made once for the workers of every shard of one process. */
  constructor(opts: WorkerOptions, handler: Handler, shared: { metrics: WorkerMetrics });
  constructor(opts: WorkerOptions, handler: Handler, shared?: { metrics: WorkerMetrics }) {
    // Before anything connects: a bad option throws here (a RangeError or TypeError naming it).
    this.o = resolveWorkerOptions(opts, handler);
    // Also before connecting: contracts of the wrong shape throw here (a TypeError naming them).
    const decoder = new EntryDecoder(this.o, opts.contracts);
    const sinks = resolveSinks(opts);
    const log = sinks.logger.child({ stream: this.o.stream, group: this.o.group });
    this.events = new WorkerEmitter(log);
    // Also before connecting: a registry that holds these metrics already throws here.
    const m = shared?.metrics ?? createWorkerMetrics(sinks.registry, { running: () => this.s.running, held: () => this.s.held.size, redisOk: () => this.s.redisOk });
    const cmd = createRedis({ settings: this.o.redis, role: 'command', name: `worker:${this.o.consumer}`, logger: log, overrides: { commandTimeout: this.o.commandTimeoutMs } });
    this.s = new WorkerState(this.o, log, cmd, this.events, m);
    this.consumer = new StreamConsumer({
      settings: this.o.redis,
      name: `worker-read:${this.o.consumer}`,
      stream: this.o.stream,
      group: this.o.group,
      consumer: this.o.consumer,
      blockMs: this.o.blockMs,
    });
    const acks = new AckBatcher(this.s);
    this.sched = new Scheduler(this.s, handler, acks, decoder);
    this.ownership = new Ownership(this.s, this.sched, acks);
    this.sched.refresh = () => void this.ownership.refreshHeld();
    this.drainer = new Drain(this.s, { consumer: this.consumer, acks, sched: this.sched, loopDone: () => this.loopDone, stopTimers: () => this.stopTimers() });
  }

  /** Ready while reads succeed, the group exists and the worker is not draining (cheap: no round trip). */
  readiness(): Readiness {
    if (this.s.stopping) return { ready: false, reason: 'draining' };
    if (!this.s.redisOk) return { ready: false, reason: 'redis unreachable' };
    if (this.s.groupMissing) return { ready: false, reason: 'consumer group missing' };
    return { ready: true };
  }

  /**
   * Listens to one of the worker's events (`error`, `failed`, `deadLettered`, `drained`; payloads in
   * events.ts). Listeners run synchronously; one that throws (or rejects) is logged and ignored. An
   * `error` without a listener is only logged: it never throws.
   */
  on<E extends WorkerEventName>(event: E, listener: WorkerListener<E>): this {
    this.events.on(event, listener);
    return this;
  }

  /** Like {@link on}, for the next emission only. */
  once<E extends WorkerEventName>(event: E, listener: WorkerListener<E>): this {
    this.events.on(event, listener, true);
    return this;
  }

  /** Removes a listener added with `on`. */
  off<E extends WorkerEventName>(event: E, listener: WorkerListener<E>): this {
    this.events.off(event, listener);
    return this;
  }

  /**
   * Creates the group when missing and starts consuming. Never rejects for Redis trouble: when Redis is
   * unreachable the worker keeps trying (readiness says so). Calling it again does nothing.
   */
  async start(): Promise<void> {
    const s = this.s;
    if (this.startedOnce || s.stopping) return;
    this.startedOnce = true;
    try {
      if (await createGroup(s.cmd, this.o.stream, this.o.group, this.o.groupStartId)) {
        s.log.info({ startId: this.o.groupStartId }, 'consumer group created');
      }
      s.redisOk = true;
    } catch (err) {
      // The read loop creates the group once Redis answers.
      s.groupMissing = true;
      s.log.warn({ ...errorFields(err) }, 'redis unreachable at start; will keep trying');
      // On the next turn: a listener attached right after `await createWorker(…)` still gets it.
      setImmediate(() => s.emitError('start', err, true));
    }
    if (s.stopping) return; // closed meanwhile: start no timers and no read loop
    this.every(Math.max(30, Math.floor(this.o.claimIdleMs / 3)), () => this.ownership.refreshHeld());
    this.every(Math.max(50, Math.floor(this.o.claimIdleMs / 2)), () => this.ownership.reclaimIdle());
    this.every(Math.max(20, Math.min(250, this.o.retryDelayMs)), () => this.ownership.retryDue());
    this.loopDone = new ReadLoop(s, this.consumer, this.sched).run();
  }

  /** Runs `fn` every `ms`, skipping a tick while the previous run is still going. */
  private every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      void fn().finally(() => (busy = false));
    }, ms);
    this.timers.push(t);
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /**
   * Drains and closes: stop reading, let running and already-read entries finish within
   * shutdownGraceMs (then abort `ctx.signal`), flush acks, hand back what is left, delete this
   * consumer when it holds nothing pending, close the connections, emit `drained`. Idempotent.
   *
   * `{ force: true }`: stop at once, without waiting for running handlers (see {@link CloseOptions});
   * called while a drain runs, it cuts the drain short. Either way nothing is acked that did not finish.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null || (options.force !== undefined && typeof options.force !== 'boolean')) {
      return Promise.reject(new TypeError('worker.close(options): options.force must be true or false'));
    }
    // Abandon running handlers: their signal aborts, nothing more starts, nothing is kept fresh any
    // more (their entries become reclaimable after claimIdleMs), and the waits of the drain end.
    if (options.force) this.drainer.force();
    this.closing ??= this.drainer.run().then((summary) => this.events.emit('drained', summary));
    return this.closing;
  }

  /** Handlers running, entries held and whether reads succeed (the gauges' sources; cheap). */
  stats(): WorkerStats {
    return { running: this.s.running, held: this.s.held.size, redisOk: this.s.redisOk };
  }

  /** Entries pending for this consumer in Redis. */
  async pendingCount(): Promise<number> {
    const summary = (await this.s.cmd.xpending(this.o.stream, this.o.group)) as [number, string | null, string | null, [string, string][] | null];
    return Number(summary[3]?.find(([c]) => c === this.o.consumer)?.[1] ?? 0);
  }
}
