import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  HotCounter,
  HotHistogram,
  StreamConsumer,
  claimForRetry,
  claimIdle,
  closeRedis,
  createGroup,
  createRedis,
  deleteConsumerIfIdle,
  deliveryCounts,
  errorFields,
  fieldsToObject,
  handBack,
  isDeadLetterError,
  isNoGroupError,
  keepFresh,
  moveToDeadLetter,
  type Contract,
  type DeadLetterReason,
  type EnvelopeName,
  type RawEntry,
  type Readiness,
  type StreamEvent,
} from '@stream-workers/core';
import type { Handler, HandlerContext } from './handler';
import { resolveSinks, resolveWorkerOptions, type ResolvedWorkerOptions } from './options';
import { EntryDecoder } from './decode';
import { WorkerEmitter, type WorkerErrorEvent, type WorkerEventName, type WorkerListener } from './events';

/** Options of {@link Worker}; defaults as in docs/design.md ("Runtime contract"). */
export interface WorkerOptions {
  // Each option is checked against its environment variable's rule (options.ts, OPTION_SPECS).
  /** `redis://…` or `rediss://…` (ACL user and password in the URL). */
  redisUrl: string;
  stream: string;
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

/** How long the Redis steps of close({ force: true }) may take when Redis does not answer. */
export const FORCE_CLOSE_MS = 1000;

interface Held {
  /** Deliveries so far, this one included. */
  deliveries: number;
  fields: string[];
  state: 'queued' | 'running' | 'waiting';
  /** When a failed entry may be retried here (ms since epoch), while `waiting`. */
  retryAt: number;
  lastError: string | undefined;
  /** Another consumer took it over (noticed once): still running here, never kept fresh or counted again. */
  lost?: boolean;
}

/** The handler's `ctx`: a class, so the per-event object carries no closures; the child logger is made on first use. */
class DeliveryContext implements HandlerContext {
  private child: Logger | undefined;

  constructor(
    readonly stream: string,
    readonly entryId: string,
    readonly deliveryCount: number,
    readonly signal: AbortSignal,
    private readonly parent: Logger,
    /** The event (for the worker's `failed` event; handlers get it as their first argument). */
    readonly event: StreamEvent,
  ) {}

  /** A child logger carrying correlationid, entry id and type (most handlers never log: a pino child per event is not free). */
  get logger(): Logger {
    return (this.child ??= this.parent.child({ correlationid: this.event.correlationid, entryId: this.entryId, type: this.event.type }));
  }
}

const sleepPlain = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
  private readonly decoder: EntryDecoder;
  private readonly log: Logger;
  private readonly cmd: Redis;
  private readonly consumer: StreamConsumer;
  private readonly capacity: number;
  private readonly held = new Map<string, Held>();
  private readonly queue: string[] = [];
  private running = 0;
  private roomWaiter: (() => void) | undefined;
  private acks: string[] = [];
  private ackInFlight: Promise<void> | undefined;
  private ackScheduled = false;
  private acksGiveUp = false;
  /** Cursor in this consumer's own pending list while working it off; undefined = reading new entries. */
  private pendingCursor: string | undefined = '0';
  private claimCursor = '0-0';
  private startedOnce = false;
  private stopping = false;
  private closing: Promise<void> | undefined;
  /** When close({ force: true }) was called. */
  private forcedAt: number | undefined;
  /** Waits of the drain that a close({ force: true }) shortens. */
  private readonly forceWaiters = new Set<() => void>();
  /** The connections are closed: a handler abandoned by close({ force: true }) that finishes later is not acked. */
  private closed = false;
  private readonly events: WorkerEmitter;
  private loopDone: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private redisOk = false;
  /** When this worker last confirmed (keep-fresh) that it owns what it holds. */
  private lastFreshAt = Date.now();
  private refreshing: Promise<void> | undefined;
  private groupMissing = false;
  private readonly m: {
    ok: { inc(by?: number): void };
    retry: { inc(by?: number): void };
    deadLetter: { inc(by?: number): void };
    okSeconds: { observe(v: number): void };
    retrySeconds: { observe(v: number): void };
    deadLetterSeconds: { observe(v: number): void };
    claimed: Counter;
    lost: Counter;
  };

  constructor(
    opts: WorkerOptions,
    private readonly handler: Handler,
  ) {
    // Before anything connects: a bad option throws here (a RangeError or TypeError naming it).
    this.o = resolveWorkerOptions(opts, handler);
    this.decoder = new EntryDecoder(this.o, opts.contracts);
    this.capacity = this.o.concurrency + 3 * this.o.batchSize;
    const sinks = resolveSinks(opts);
    this.log = sinks.logger.child({ stream: this.o.stream, group: this.o.group });
    this.events = new WorkerEmitter(this.log);
    // Also before connecting: a registry that holds these metrics already throws here.
    this.m = this.createMetrics(sinks.registry);
    // Every running handler may listen to the abort signal.
    setMaxListeners(0, this.abort.signal);
    this.cmd = createRedis({
      url: this.o.redisUrl,
      role: 'command',
      name: `worker:${this.o.consumer}`,
      logger: this.log,
      overrides: { commandTimeout: this.o.commandTimeoutMs },
    });
    this.consumer = new StreamConsumer({
      url: this.o.redisUrl,
      name: `worker-read:${this.o.consumer}`,
      stream: this.o.stream,
      group: this.o.group,
      consumer: this.o.consumer,
      blockMs: this.o.blockMs,
    });
  }

  private createMetrics(r: Registry): Worker['m'] {
    // The two per-event metrics are hot-path implementations (no label hashing per event); they render
    // like prom-client's Counter and Histogram.
    const processed = new HotCounter({
      name: 'stream_workers_events_processed_total',
      help: 'Deliveries handled, by outcome: ok (acked), retry (failed, will be redelivered), dead_letter (moved to the dead-letter stream)',
      labelName: 'outcome',
      labelValues: ['ok', 'retry', 'dead_letter'] as const,
      registers: [r],
    });
    const seconds = new HotHistogram({
      name: 'stream_workers_event_processing_seconds',
      help: 'Handler run time per delivery, by outcome',
      labelName: 'outcome',
      labelValues: ['ok', 'retry', 'dead_letter'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    const self = this;
    new Gauge({
      name: 'stream_workers_inflight_events',
      help: 'Handlers running now',
      registers: [r],
      collect() {
        this.set(self.running);
      },
    });
    new Gauge({
      name: 'stream_workers_worker_held_entries',
      help: 'Entries this worker holds: running, read and queued, or waiting for a retry',
      registers: [r],
      collect() {
        this.set(self.held.size);
      },
    });
    new Gauge({
      name: 'stream_workers_worker_redis_up',
      help: '1 while the worker reads from Redis without errors',
      registers: [r],
      collect() {
        this.set(self.redisOk ? 1 : 0);
      },
    });
    return {
      ok: processed.child('ok'),
      retry: processed.child('retry'),
      deadLetter: processed.child('dead_letter'),
      okSeconds: seconds.child('ok'),
      retrySeconds: seconds.child('retry'),
      deadLetterSeconds: seconds.child('dead_letter'),
      claimed: new Counter({ name: 'stream_workers_events_claimed_total', help: 'Entries reclaimed from other consumers (XAUTOCLAIM) after CLAIM_IDLE_MS', registers: [r] }),
      lost: new Counter({
        name: 'stream_workers_worker_ownership_lost_total',
        help: 'Entries another consumer reclaimed while this worker still held them (it was out of touch with Redis for longer than CLAIM_IDLE_MS)',
        registers: [r],
      }),
    };
  }

  /** Ready while reads succeed, the group exists and the worker is not draining (cheap: no round trip). */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'draining' };
    if (!this.redisOk) return { ready: false, reason: 'redis unreachable' };
    if (this.groupMissing) return { ready: false, reason: 'consumer group missing' };
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

  off<E extends WorkerEventName>(event: E, listener: WorkerListener<E>): this {
    this.events.off(event, listener);
    return this;
  }

  private emitError(during: WorkerErrorEvent['during'], err: unknown, recovered: boolean, entryId?: string): void {
    if (this.events.has('error')) this.events.emit('error', { error: err instanceof Error ? err : new Error(String(err)), during, recovered, entryId });
  }

  /**
   * Creates the group when missing and starts consuming. Never rejects for Redis trouble: when Redis is
   * unreachable the worker keeps trying (readiness says so). Calling it again does nothing.
   */
  async start(): Promise<void> {
    if (this.startedOnce || this.stopping) return;
    this.startedOnce = true;
    try {
      if (await createGroup(this.cmd, this.o.stream, this.o.group, this.o.groupStartId)) {
        this.log.info({ startId: this.o.groupStartId }, 'consumer group created');
      }
      this.redisOk = true;
    } catch (err) {
      // The read loop creates the group once Redis answers.
      this.groupMissing = true;
      this.log.warn({ ...errorFields(err) }, 'redis unreachable at start; will keep trying');
      // On the next turn: a listener attached right after `await createWorker(…)` still gets it.
      setImmediate(() => this.emitError('start', err, true));
    }
    if (this.stopping) return; // closed meanwhile: start no timers and no read loop
    const every = (ms: number, fn: () => Promise<void>): void => {
      let busy = false;
      const t = setInterval(() => {
        if (busy) return;
        busy = true;
        void fn().finally(() => (busy = false));
      }, ms);
      this.timers.push(t);
    };
    every(Math.max(30, Math.floor(this.o.claimIdleMs / 3)), () => this.refreshHeld());
    every(Math.max(50, Math.floor(this.o.claimIdleMs / 2)), () => this.reclaimIdle());
    every(Math.max(20, Math.min(250, this.o.retryDelayMs)), () => this.retryDue());
    this.loopDone = this.loop();
  }

  // ---- reading -------------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    let backoff = 0;
    // Reads of new entries in flight on the read connection, oldest first (replies come in order).
    const ahead: Promise<RawEntry[]>[] = [];
    // True while reads come back full: then up to two non-blocking reads are kept in flight.
    let backlog = false;
    const b = this.o.batchSize;
    while (!this.stopping) {
      try {
        if (this.pendingCursor !== undefined) {
          await this.readOwnPending();
          continue;
        }
        // One blocking read when caught up; two non-blocking ones while a backlog lasts. Entries queued
        // plus batches on the way stay under 2 × batchSize: the worker holds < concurrency + 3 × batchSize.
        while (ahead.length < (backlog ? 2 : 1) && this.queue.length + ahead.length * b < 2 * b) {
          const read = this.consumer.read(b, undefined, !backlog);
          read.catch(() => undefined); // awaited in order below; a later one may reject first
          ahead.push(read);
        }
        if (ahead.length === 0) {
          await new Promise<void>((resolve) => (this.roomWaiter = resolve));
          continue;
        }
        const entries = await ahead.shift()!;
        this.readSucceeded();
        backoff = 0;
        backlog = entries.length >= b;
        if (entries.length > 0) this.accept(entries, undefined);
      } catch (err) {
        backlog = false;
        await this.acceptSettled(ahead.splice(0));
        if (this.stopping) break;
        backoff = Math.min(5000, backoff === 0 ? 100 : backoff * 2);
        // A reply lost on the way may have delivered entries to us: work off our pending list again.
        this.pendingCursor = '0';
        if (isNoGroupError(err)) {
          if (!this.groupMissing) {
            this.log.warn({ ...errorFields(err) }, 'stream or consumer group missing; recreating it');
            this.emitError('read', err, true);
          }
          this.groupMissing = true;
          backoff = Math.min(backoff, 1000);
          try {
            if (await createGroup(this.cmd, this.o.stream, this.o.group, this.o.groupStartId)) {
              this.log.info({ startId: this.o.groupStartId }, 'consumer group created');
            }
          } catch {
            /* Redis trouble: the next read reports it */
          }
        } else {
          if (this.redisOk) {
            this.log.warn({ ...errorFields(err), backoffMs: backoff }, 'reading from redis failed; retrying with backoff');
            this.emitError('read', err, true);
          }
          this.redisOk = false;
        }
        await this.sleep(backoff);
      }
    }
    // Stopping: what reads still on the way deliver is ours now; it runs within the grace.
    await this.acceptSettled(ahead.splice(0));
  }

  private readSucceeded(): void {
    if (!this.redisOk || this.groupMissing) {
      this.log.info({ wasRedisDown: !this.redisOk, wasGroupMissing: this.groupMissing }, 'consuming again');
      this.redisOk = true;
      this.groupMissing = false;
    }
  }

  /** Waits for reads still in flight and takes in whatever they delivered. */
  private async acceptSettled(reads: Promise<RawEntry[]>[]): Promise<void> {
    for (const r of await Promise.allSettled(reads)) {
      if (r.status === 'fulfilled' && r.value.length > 0) this.accept(r.value, undefined);
    }
  }

  /** One read of this consumer's own pending list (after a restart or a lost reply); delivery counters decide retry vs dead letter. */
  private async readOwnPending(): Promise<void> {
    const entries = await this.consumer.read(this.o.batchSize, this.pendingCursor);
    this.readSucceeded();
    if (entries.length === 0) {
      this.pendingCursor = undefined;
      return;
    }
    this.pendingCursor = entries[entries.length - 1]![0];
    const fresh = entries.filter(([id]) => !this.held.has(id));
    const counts = fresh.length ? await deliveryCounts(this.cmd, this.o.stream, this.o.group, this.o.consumer, fresh.map(([id]) => id)) : new Map<string, number>();
    this.accept(fresh, counts);
  }

  /**
   * Takes entries in and starts handlers. `counts`: delivery counters of entries that are not first
   * deliveries (own pending, reclaimed); entries missing from it are no longer ours and are skipped.
   */
  private accept(entries: RawEntry[], counts: Map<string, number> | undefined): void {
    for (const [id, fields] of entries) {
      if (this.held.has(id)) continue;
      if (fields === null) {
        // Deleted from the stream while pending: nothing to process; ack so it leaves the pending list.
        this.ack(id);
        continue;
      }
      let deliveries = 1;
      if (counts) {
        const c = counts.get(id);
        if (c === undefined) continue;
        deliveries = c;
      }
      this.held.set(id, { deliveries, fields, state: 'queued', retryAt: 0, lastError: undefined });
      this.queue.push(id);
    }
    this.pump();
  }

  /** Starts queued handlers up to `concurrency`. */
  private pump(): void {
    if (this.queue.length > 0 && Date.now() - this.lastFreshAt >= this.o.claimIdleMs) {
      // Out of touch for CLAIM_IDLE_MS (a stalled process, a slow connection): other consumers may have
      // reclaimed what waits in the queue. Confirm ownership first; a successful round pumps again
      // (a failed one does not: the refresh timer retries, so Redis trouble causes no loop here).
      void this.refreshHeld(); // joins a round already under way
      return;
    }
    while (this.running < this.o.concurrency && this.queue.length > 0 && !this.abort.signal.aborted) {
      const id = this.queue.shift()!;
      const h = this.held.get(id);
      if (!h || h.state !== 'queued') continue;
      h.state = 'running';
      this.running += 1;
      if (this.runOne(id, h)) this.running -= 1; // a synchronous handler finished (and was acked) already
    }
    this.wakeReader();
  }

  private readonly onFinished = (): void => {
    this.running -= 1;
    this.pump();
    this.wakeReader();
  };

  /** Lets the read loop read again once the queue has room for another batch. */
  private wakeReader(): void {
    if (this.roomWaiter && this.queue.length < this.o.batchSize) {
      const w = this.roomWaiter;
      this.roomWaiter = undefined;
      w();
    }
  }

  // ---- handling ------------------------------------------------------------------------------------

  /**
   * Runs one held entry. Returns true when a synchronous handler already succeeded (the entry is acked;
   * the caller counts it finished); otherwise onFinished is called once its outcome (ack, retry, dead
   * letter) is settled locally.
   */
  private runOne(id: string, h: Held): boolean {
    const parsed = this.decoder.decode(id, h.fields);
    if (!parsed.ok) {
      void this.deadLetter(id, h, parsed.reason, parsed.error).finally(this.onFinished);
      return false;
    }
    if (h.deliveries > this.o.maxDeliveries) {
      // Delivered more often than allowed without an outcome (e.g. it crashed its workers): do not run it again.
      void this.deadLetter(id, h, 'max_deliveries', h.lastError ?? `delivered ${h.deliveries} times without completing`).finally(this.onFinished);
      return false;
    }
    const ctx = new DeliveryContext(this.o.stream, id, h.deliveries, this.abort.signal, this.log, parsed.event);
    const t0 = performance.now();
    let result: Promise<void> | void;
    try {
      result = this.handler(parsed.event, ctx);
    } catch (err) {
      void this.failed(id, h, ctx, err, t0).finally(this.onFinished);
      return false;
    }
    if (result === undefined || typeof (result as { then?: unknown }).then !== 'function') {
      this.succeeded(id, t0);
      return true;
    }
    // Hot path of async handlers: one promise reaction per event, no extra async frames.
    result.then(
      () => {
        this.succeeded(id, t0);
        this.onFinished();
      },
      (err: unknown) => void this.failed(id, h, ctx, err, t0).finally(this.onFinished),
    );
    return false;
  }

  private succeeded(id: string, t0: number): void {
    this.m.okSeconds.observe((performance.now() - t0) / 1000);
    this.m.ok.inc();
    this.held.delete(id);
    this.ack(id);
  }

  private async failed(id: string, h: Held, ctx: DeliveryContext, err: unknown, t0: number): Promise<void> {
    const seconds = (performance.now() - t0) / 1000;
    if (this.abort.signal.aborted) {
      // Shutdown grace over: the entry stays pending and is handed back (not a failed delivery of its own).
      h.state = 'waiting';
      h.retryAt = Number.MAX_SAFE_INTEGER;
      return;
    }
    h.lastError = err instanceof Error ? err.message : String(err);
    // A DeadLetterError (e.g. `unrouted`) is dead-lettered on this delivery: a retry cannot help.
    const now = isDeadLetterError(err);
    if (now || h.deliveries >= this.o.maxDeliveries) {
      this.m.deadLetterSeconds.observe(seconds);
      this.emitFailed(id, ctx, err, undefined);
      await this.deadLetter(id, h, now ? err.reason : 'max_deliveries', h.lastError);
      return;
    }
    this.m.retrySeconds.observe(seconds);
    this.m.retry.inc();
    const delay = Math.min(this.o.retryDelayMs * 2 ** (h.deliveries - 1), Math.floor(this.o.claimIdleMs / 2));
    h.state = 'waiting';
    h.retryAt = Date.now() + delay;
    ctx.logger.warn({ deliveries: h.deliveries, maxDeliveries: this.o.maxDeliveries, retryInMs: delay, ...errorFields(err) }, 'handler failed; will retry');
    this.emitFailed(id, ctx, err, delay);
  }

  /** The `failed` event; `retryInMs` undefined: the last delivery (dead-lettered next). */
  private emitFailed(id: string, ctx: DeliveryContext, err: unknown, retryInMs: number | undefined): void {
    if (!this.events.has('failed')) return;
    this.events.emit('failed', {
      entryId: id,
      eventId: ctx.event.id,
      type: ctx.event.type,
      deliveryCount: ctx.deliveryCount,
      maxDeliveries: this.o.maxDeliveries,
      error: err,
      willRetry: retryInMs !== undefined,
      retryInMs,
    });
  }

  private async deadLetter(id: string, h: Held, reason: DeadLetterReason, error: string): Promise<void> {
    const entry = { entryId: id, fields: h.fields, reason, error, deliveries: h.deliveries, consumer: this.o.consumer };
    for (let attempt = 1; ; attempt++) {
      try {
        await moveToDeadLetter(this.cmd, this.o.stream, this.o.group, this.o.deadLetterStream, [entry]);
        break;
      } catch (err) {
        this.onCommandError(err);
        if (attempt >= 5 || this.stopping || isNoGroupError(err)) {
          // Still pending and no longer kept fresh: reclaimed after CLAIM_IDLE_MS (here or elsewhere) and dead-lettered then.
          this.log.error({ entryId: id, reason, ...errorFields(err) }, 'could not move the entry to the dead-letter stream; leaving it pending');
          this.emitError('dead-letter', err, false, id);
          this.held.delete(id);
          return;
        }
        await this.sleep(100 * attempt);
      }
    }
    this.held.delete(id);
    this.m.deadLetter.inc();
    const envelope = fieldsToObject(h.fields);
    this.log.warn({ entryId: id, correlationid: envelope.correlationid, reason, deliveries: h.deliveries, error, deadLetterStream: this.o.deadLetterStream }, 'entry moved to the dead-letter stream');
    if (this.events.has('deadLettered')) {
      this.events.emit('deadLettered', { entryId: id, eventId: envelope.id, reason, error, deliveries: h.deliveries, deadLetterStream: this.o.deadLetterStream });
    }
  }

  // ---- acks ----------------------------------------------------------------------------------------

  /** Queues an ack: acks go out as one multi-id XACK per event-loop turn, alongside the next read. */
  private ack(id: string): void {
    if (this.closed) return; // a handler close({ force: true }) abandoned: its entry stays pending and is reclaimed elsewhere
    this.acks.push(id);
    this.scheduleAcks();
  }

  private scheduleAcks(): void {
    if (this.ackScheduled || this.ackInFlight) return;
    this.ackScheduled = true;
    setImmediate(() => {
      this.ackScheduled = false;
      void this.flushAcks();
    });
  }

  /** Sends the queued acks (one XACK in flight at a time; acks arriving meanwhile go in the next). */
  private flushAcks(): Promise<void> {
    if (!this.ackInFlight && this.acks.length > 0) {
      const ids = this.acks;
      this.acks = [];
      this.ackInFlight = this.sendAcks(ids).finally(() => {
        this.ackInFlight = undefined;
        if (this.acks.length > 0) this.scheduleAcks();
      });
    }
    return this.ackInFlight ?? Promise.resolve();
  }

  private async sendAcks(ids: string[]): Promise<void> {
    let warned = false;
    for (let attempt = 1; ; attempt++) {
      try {
        for (let i = 0; i < ids.length; i += 1000) {
          await this.cmd.xack(this.o.stream, this.o.group, ...(ids.length <= 1000 ? ids : ids.slice(i, i + 1000)));
        }
        if (warned) this.log.info({ count: ids.length }, 'acks sent after retrying');
        return;
      } catch (err) {
        if (isNoGroupError(err)) return; // the group is gone: nothing left to ack
        this.onCommandError(err);
        if (!warned) {
          this.log.warn({ count: ids.length, ...errorFields(err) }, 'XACK failed; retrying until redis answers');
          this.emitError('ack', err, true);
        }
        warned = true;
        // Unacked entries are redelivered (at least once); give up only when close() says so.
        if (this.acksGiveUp) return;
        await sleepPlain(Math.min(2000, 50 * attempt));
      }
    }
  }

  /** A command without reply past commandTimeoutMs: the connection is likely dead without knowing it. */
  private onCommandError(err: unknown): void {
    if (err instanceof Error && err.message === 'Command timed out' && this.cmd.status === 'ready') this.cmd.disconnect(true);
  }

  // ---- keeping, retrying, reclaiming ---------------------------------------------------------------

  /**
   * Keeps every held entry fresh (owner-checked XCLAIM JUSTID), so nobody reclaims what runs here;
   * entries found reclaimed are dropped (or, when running, marked lost). One round at a time.
   */
  private refreshHeld(): Promise<void> {
    this.refreshing ??= this.refreshRound().then((ok) => {
      this.refreshing = undefined;
      if (ok) this.pump();
    });
    return this.refreshing;
  }

  /** One keep-fresh round; true when Redis confirmed what this worker owns. */
  private async refreshRound(): Promise<boolean> {
    const ids: string[] = [];
    for (const [id, h] of this.held) if (!h.lost) ids.push(id);
    const startedAt = Date.now();
    if (ids.length === 0) {
      this.lastFreshAt = startedAt;
      return true;
    }
    try {
      const lost = await keepFresh(this.cmd, this.o.stream, this.o.group, this.o.consumer, ids);
      this.lastFreshAt = startedAt;
      this.dropLost(lost);
      return true;
    } catch (err) {
      this.onCommandError(err); // the read loop reports Redis trouble
      return false;
    }
  }

  /** Entries this worker no longer owns in Redis: stop holding those not running (a running one still acks when done). */
  private dropLost(lost: string[]): void {
    let n = 0;
    for (const id of lost) {
      const h = this.held.get(id);
      if (!h || h.lost) continue; // finished meanwhile, or already counted
      n += 1;
      if (h.state !== 'running') this.held.delete(id); // queued ones are skipped by pump()
      else h.lost = true; // still runs here: its ack completes the entry for the group; the new owner's later ack is a no-op
    }
    if (n > 0) {
      this.m.lost.inc(n);
      this.log.warn({ count: n }, 'entries held here were reclaimed by another consumer or acked elsewhere; dropping them');
    }
  }

  /** Retries failed entries whose backoff elapsed: claim them again (a counted delivery) and queue them. */
  private async retryDue(): Promise<void> {
    if (this.stopping) return;
    const now = Date.now();
    const due: string[] = [];
    for (const [id, h] of this.held) if (h.state === 'waiting' && h.retryAt <= now) due.push(id);
    if (due.length === 0) return;
    try {
      const { claimed, lost } = await claimForRetry(this.cmd, this.o.stream, this.o.group, this.o.consumer, due);
      this.dropLost(lost);
      for (const [id, fields] of claimed) {
        const h = this.held.get(id);
        if (!h || h.state !== 'waiting') continue;
        if (fields === null) {
          this.held.delete(id);
          this.ack(id);
          continue;
        }
        h.deliveries += 1;
        h.state = 'queued';
        this.queue.push(id);
      }
      this.pump();
    } catch (err) {
      this.onCommandError(err); // retried at the next tick
    }
  }

  /** XAUTOCLAIM: takes over entries idle ≥ claimIdleMs (crashed consumers', or orphans), as room allows. */
  private async reclaimIdle(): Promise<void> {
    let claimed = 0;
    try {
      for (let round = 0; round < 10 && !this.stopping; round++) {
        const room = this.capacity - this.running - this.queue.length;
        if (room <= 0) break;
        const r = await claimIdle(this.cmd, this.o.stream, this.o.group, this.o.consumer, this.o.claimIdleMs, room, this.claimCursor);
        this.claimCursor = r.next;
        if (r.entries.length > 0) {
          claimed += r.entries.length;
          this.accept(r.entries, r.deliveries);
        }
        if (r.next === '0-0') break;
      }
    } catch (err) {
      this.onCommandError(err);
      if (!isNoGroupError(err)) this.log.debug({ ...errorFields(err) }, 'XAUTOCLAIM failed');
    }
    if (claimed > 0) {
      this.m.claimed.inc(claimed);
      this.log.info({ count: claimed, claimIdleMs: this.o.claimIdleMs }, 'reclaimed idle entries');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- shutdown ------------------------------------------------------------------------------------

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
    if (options.force && this.forcedAt === undefined) {
      this.forcedAt = Date.now();
      // Abandon running handlers: their signal aborts, nothing more starts, nothing is kept fresh any
      // more (their entries become reclaimable after claimIdleMs), and the waits of the drain end.
      this.stopping = true;
      this.abort.abort();
      this.stopTimers();
      for (const wake of [...this.forceWaiters]) wake();
    }
    this.closing ??= this.drain();
    return this.closing;
  }

  /** Entries pending for this consumer in Redis. */
  async pendingCount(): Promise<number> {
    const summary = (await this.cmd.xpending(this.o.stream, this.o.group)) as [number, string | null, string | null, [string, string][] | null];
    return Number(summary[3]?.find(([c]) => c === this.o.consumer)?.[1] ?? 0);
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /**
   * Waits for `p` (never rejects), at most `ms` (Infinity: no limit); once close({ force: true }) was
   * called, at most until FORCE_CLOSE_MS after it.
   */
  private within(p: Promise<unknown>, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        this.forceWaiters.delete(onForce);
        resolve();
      };
      const onForce = (): void => {
        clearTimeout(timer);
        timer = setTimeout(done, Math.max(0, Math.min(ms, this.forcedAt! + FORCE_CLOSE_MS - Date.now())));
      };
      if (this.forcedAt !== undefined) onForce();
      else {
        if (Number.isFinite(ms)) timer = setTimeout(done, ms);
        this.forceWaiters.add(onForce);
      }
      p.then(done, done);
    });
  }

  private async drain(): Promise<void> {
    const started = Date.now();
    const graceEnd = started + this.o.shutdownGraceMs;
    this.stopping = true;
    // Stop reading; a read blocked right now returns empty (nothing it might return is lost).
    await this.within(this.consumer.unblock(this.cmd), Infinity);
    const w = this.roomWaiter;
    this.roomWaiter = undefined;
    w?.();
    if (this.loopDone) await this.within(this.loopDone, this.o.blockMs + 1000);
    // Running and queued entries finish within the grace (the refresh timer keeps them fresh meanwhile).
    while ((this.running > 0 || this.queue.length > 0) && Date.now() < graceEnd && this.forcedAt === undefined) await sleepPlain(10);
    let aborted = 0;
    if (this.forcedAt === undefined && (this.running > 0 || this.queue.length > 0)) {
      aborted = this.running;
      this.log.warn({ running: this.running, queued: this.queue.length }, 'shutdown grace over: aborting running handlers; their entries are handed back');
      this.abort.abort();
      const until = Date.now() + 1000;
      while (this.running > 0 && Date.now() < until && this.forcedAt === undefined) await sleepPlain(10);
    }
    this.stopTimers();
    this.abort.abort();
    // Acks get the rest of the grace, and at least 2 s.
    await this.within(this.flushAllAcks(), Math.max(2000, graceEnd - Date.now()));
    this.acksGiveUp = true;
    // Forced: the entries of handlers still running stay pending as they are (reclaimed after
    // claimIdleMs); handing them back would make them reclaimable while they may still run here.
    const forced = this.forcedAt !== undefined;
    const left = [...this.held].filter(([, h]) => !forced || h.state !== 'running').map(([id]) => id);
    const abandoned = forced ? this.held.size - left.length : 0;
    if (abandoned > 0) {
      this.log.warn({ abandoned }, 'close({ force: true }): running handlers abandoned; their entries stay pending and are reclaimed after CLAIM_IDLE_MS');
    }
    let handedBack = 0;
    let pending = -1;
    await this.within(
      (async () => {
        try {
          if (left.length > 0) {
            handedBack = left.length - (await handBack(this.cmd, this.o.stream, this.o.group, this.o.consumer, left, this.o.claimIdleMs)).length;
          }
          pending = await deleteConsumerIfIdle(this.cmd, this.o.stream, this.o.group, this.o.consumer);
        } catch (err) {
          if (!isNoGroupError(err)) {
            this.log.warn({ ...errorFields(err) }, 'could not hand back entries or delete the consumer');
            this.emitError('close', err, false);
          }
        }
      })(),
      Infinity,
    );
    const summary = { forced, consumerDeleted: pending === 0, pending: Math.max(0, pending), handedBack, aborted, abandoned, durationMs: Date.now() - started };
    this.log.info(summary, 'worker drained');
    this.closed = true;
    this.consumer.close();
    await closeRedis(this.cmd);
    this.events.emit('drained', summary);
  }

  private async flushAllAcks(): Promise<void> {
    while ((this.acks.length > 0 || this.ackInFlight) && !this.acksGiveUp) await this.flushAcks();
  }
}
