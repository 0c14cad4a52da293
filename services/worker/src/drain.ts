import { closeRedis, deleteConsumerIfIdle, errorFields, handBack, isNoGroupError, type StreamConsumer } from '@stream-workers/core';
import type { AckBatcher } from './acks';
import type { DrainedEvent } from './events';
import type { Scheduler } from './scheduler';
import { sleepPlain, type WorkerState } from './state';

/** How long the Redis steps of close({ force: true }) may take when Redis does not answer. */
export const FORCE_CLOSE_MS = 1000;

/** What the drain stops and waits for. */
export interface DrainParts {
  consumer: StreamConsumer;
  acks: AckBatcher;
  sched: Scheduler;
  /** The read loop's promise, when it was started. */
  loopDone: () => Promise<void> | undefined;
  stopTimers: () => void;
}

/**
 * close(): stop reading, let running and already-read entries finish within shutdownGraceMs (then
 * abort `ctx.signal`), flush acks, hand back what is left, delete the consumer when it holds nothing
 * pending, close the connections, emit `drained`. close({ force: true }) cuts it short (see worker.ts).
 */
export class Drain {
  /** When close({ force: true }) was called. */
  forcedAt: number | undefined;
  /** Waits of the drain that a close({ force: true }) shortens. */
  private readonly forceWaiters = new Set<() => void>();

  constructor(
    private readonly s: WorkerState,
    private readonly p: DrainParts,
  ) {}

  /** close({ force: true }): abandon running handlers, stop the timers, shorten every wait of the drain. */
  force(): void {
    if (this.forcedAt !== undefined) return;
    this.forcedAt = Date.now();
    this.s.stopping = true;
    this.s.abort.abort();
    this.p.stopTimers();
    for (const wake of [...this.forceWaiters]) wake();
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

  async run(): Promise<DrainedEvent> {
    const { s, p } = this;
    const started = Date.now();
    const graceEnd = started + s.o.shutdownGraceMs;
    s.stopping = true;
    // Stop reading; a read blocked right now returns empty (nothing it might return is lost).
    await this.within(p.consumer.unblock(s.cmd), Infinity);
    p.sched.wakeReaderNow();
    const loop = p.loopDone();
    if (loop) await this.within(loop, s.o.blockMs + 1000);
    const aborted = await this.finishRunning(graceEnd);
    p.stopTimers();
    s.abort.abort();
    // Acks get the rest of the grace, and at least 2 s.
    await this.within(p.acks.flushAll(), Math.max(2000, graceEnd - Date.now()));
    p.acks.giveUp();
    const { handedBack, pending, abandoned } = await this.handBackLeft();
    const summary = { forced: this.forcedAt !== undefined, consumerDeleted: pending === 0, pending: Math.max(0, pending), handedBack, aborted, abandoned, durationMs: Date.now() - started };
    s.log.info(summary, 'worker drained');
    s.closed = true;
    p.consumer.close();
    await closeRedis(s.cmd);
    return summary;
  }

  /** Running and queued entries finish within the grace (kept fresh meanwhile); then handlers are aborted. Returns how many were. */
  private async finishRunning(graceEnd: number): Promise<number> {
    const s = this.s;
    while ((s.running > 0 || s.queue.length > 0) && Date.now() < graceEnd && this.forcedAt === undefined) await sleepPlain(10);
    if (this.forcedAt !== undefined || (s.running === 0 && s.queue.length === 0)) return 0;
    const aborted = s.running;
    s.log.warn({ running: s.running, queued: s.queue.length }, 'shutdown grace over: aborting running handlers; their entries are handed back');
    s.abort.abort();
    const until = Date.now() + 1000;
    while (s.running > 0 && Date.now() < until && this.forcedAt === undefined) await sleepPlain(10);
    return aborted;
  }

  /**
   * Hands back what is held (marked idle so others reclaim it at once) and deletes the consumer when
   * nothing is pending. Forced: the entries of handlers still running stay pending as they are
   * (reclaimed after claimIdleMs); handing them back would make them reclaimable while they may still run here.
   */
  private async handBackLeft(): Promise<{ handedBack: number; pending: number; abandoned: number }> {
    const s = this.s;
    const forced = this.forcedAt !== undefined;
    const left = [...s.held].filter(([, h]) => !forced || h.state !== 'running').map(([id]) => id);
    const abandoned = forced ? s.held.size - left.length : 0;
    if (abandoned > 0) {
      s.log.warn({ abandoned }, 'close({ force: true }): running handlers abandoned; their entries stay pending and are reclaimed after CLAIM_IDLE_MS');
    }
    let handedBack = 0;
    let pending = -1;
    const work = async (): Promise<void> => {
      try {
        if (left.length > 0) handedBack = left.length - (await handBack(s.cmd, s.o.stream, s.o.group, s.o.consumer, left, s.o.claimIdleMs)).length;
        pending = await deleteConsumerIfIdle(s.cmd, s.o.stream, s.o.group, s.o.consumer);
      } catch (err) {
        if (!isNoGroupError(err)) {
          s.log.warn({ ...errorFields(err) }, 'could not hand back entries or delete the consumer');
          s.emitError('close', err, false);
        }
      }
    };
    await this.within(work(), Infinity);
    return { handedBack, pending, abandoned };
  }
}
