import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { errorFields, isDeadLetterError, type RawEntry, type StreamEvent } from '@stream-workers/core';
import type { EntryDecoder } from './decode';
import type { Handler, HandlerContext } from './handler';
import type { AckBatcher } from './acks';
import { deadLetter } from './dead-letter';
import type { Held, WorkerState } from './state';

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

/**
 * Takes read entries in and runs them: at most `concurrency` handlers at once; success acks, failure
 * schedules a retry (backoff) or dead-letters on the last delivery. Wakes the read loop when the queue
 * has room for another batch.
 */
export class Scheduler {
  private roomWaiter: (() => void) | undefined;
  /** Set by the worker: starts a keep-fresh round (ownership.ts), which pumps again when it succeeds. */
  refresh: () => void = () => undefined;

  constructor(
    private readonly s: WorkerState,
    private readonly handler: Handler,
    private readonly acks: AckBatcher,
    /** The envelope codec and payload contracts (decode.ts). */
    private readonly decoder: EntryDecoder,
  ) {}

  /** Resolves once the queue has room for another batch (or {@link wakeReaderNow}). */
  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => (this.roomWaiter = resolve));
  }

  /** Ends a {@link waitForRoom} at once (close()). */
  wakeReaderNow(): void {
    const w = this.roomWaiter;
    this.roomWaiter = undefined;
    w?.();
  }

  /**
   * Takes entries in and starts handlers. `counts`: delivery counters of entries that are not first
   * deliveries (own pending, reclaimed); entries missing from it are no longer ours and are skipped.
   */
  accept(entries: RawEntry[], counts: Map<string, number> | undefined): void {
    const { held, queue } = this.s;
    for (const [id, fields] of entries) {
      if (held.has(id)) continue;
      if (fields === null) {
        // Deleted from the stream while pending: nothing to process; ack so it leaves the pending list.
        this.acks.ack(id);
        continue;
      }
      let deliveries = 1;
      if (counts) {
        const c = counts.get(id);
        if (c === undefined) continue;
        deliveries = c;
      }
      held.set(id, { deliveries, fields, state: 'queued', retryAt: 0, lastError: undefined });
      queue.push(id);
    }
    this.pump();
  }

  /** Starts queued handlers up to `concurrency`. */
  pump(): void {
    const s = this.s;
    if (s.queue.length > 0 && Date.now() - s.lastFreshAt >= s.o.claimIdleMs) {
      // Out of touch for CLAIM_IDLE_MS (a stalled process, a slow connection): other consumers may have
      // reclaimed what waits in the queue. Confirm ownership first; a successful round pumps again
      // (a failed one does not: the refresh timer retries, so Redis trouble causes no loop here).
      this.refresh(); // joins a round already under way
      return;
    }
    while (s.running < s.o.concurrency && s.queue.length > 0 && !s.abort.signal.aborted) {
      const id = s.queue.shift()!;
      const h = s.held.get(id);
      if (!h || h.state !== 'queued') continue;
      h.state = 'running';
      s.running += 1;
      if (this.runOne(id, h)) s.running -= 1; // a synchronous handler finished (and was acked) already
    }
    this.wakeReader();
  }

  private readonly onFinished = (): void => {
    this.s.running -= 1;
    this.pump();
    this.wakeReader();
  };

  /** Lets the read loop read again once the queue has room for another batch. */
  private wakeReader(): void {
    if (this.roomWaiter && this.s.queue.length < this.s.o.batchSize) this.wakeReaderNow();
  }

  /**
   * Runs one held entry. Returns true when a synchronous handler already succeeded (the entry is acked;
   * the caller counts it finished); otherwise onFinished is called once its outcome (ack, retry, dead
   * letter) is settled locally.
   */
  private runOne(id: string, h: Held): boolean {
    const s = this.s;
    const parsed = this.decoder.decode(id, h.fields);
    if (!parsed.ok) {
      void deadLetter(s, id, h, parsed.reason, parsed.error).finally(this.onFinished);
      return false;
    }
    if (h.deliveries > s.o.maxDeliveries) {
      // Delivered more often than allowed without an outcome (e.g. it crashed its workers): do not run it again.
      void deadLetter(s, id, h, 'max_deliveries', h.lastError ?? `delivered ${h.deliveries} times without completing`).finally(this.onFinished);
      return false;
    }
    const ctx = new DeliveryContext(s.o.stream, id, h.deliveries, s.abort.signal, s.log, parsed.event);
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
    this.s.m.okSeconds.observe((performance.now() - t0) / 1000);
    this.s.m.ok.inc();
    this.s.held.delete(id);
    this.acks.ack(id);
  }

  private async failed(id: string, h: Held, ctx: DeliveryContext, err: unknown, t0: number): Promise<void> {
    const s = this.s;
    const seconds = (performance.now() - t0) / 1000;
    if (s.abort.signal.aborted) {
      // Shutdown grace over: the entry stays pending and is handed back (not a failed delivery of its own).
      h.state = 'waiting';
      h.retryAt = Number.MAX_SAFE_INTEGER;
      return;
    }
    h.lastError = err instanceof Error ? err.message : String(err);
    // A DeadLetterError (e.g. `unrouted`) is dead-lettered on this delivery: a retry cannot help.
    const now = isDeadLetterError(err);
    if (now || h.deliveries >= s.o.maxDeliveries) {
      s.m.deadLetterSeconds.observe(seconds);
      this.emitFailed(id, ctx, err, undefined);
      await deadLetter(s, id, h, now ? err.reason : 'max_deliveries', h.lastError);
      return;
    }
    s.m.retrySeconds.observe(seconds);
    s.m.retry.inc();
    const delay = Math.min(s.o.retryDelayMs * 2 ** (h.deliveries - 1), Math.floor(s.o.claimIdleMs / 2));
    h.state = 'waiting';
    h.retryAt = Date.now() + delay;
    ctx.logger.warn({ deliveries: h.deliveries, maxDeliveries: s.o.maxDeliveries, retryInMs: delay, ...errorFields(err) }, 'handler failed; will retry');
    this.emitFailed(id, ctx, err, delay);
  }

  /** The `failed` event; `retryInMs` undefined: the last delivery (dead-lettered next). */
  private emitFailed(id: string, ctx: DeliveryContext, err: unknown, retryInMs: number | undefined): void {
    const s = this.s;
    if (!s.events.has('failed')) return;
    s.events.emit('failed', {
      entryId: id,
      eventId: ctx.event.id,
      type: ctx.event.type,
      deliveryCount: ctx.deliveryCount,
      maxDeliveries: s.o.maxDeliveries,
      error: err,
      willRetry: retryInMs !== undefined,
      retryInMs,
    });
  }
}
