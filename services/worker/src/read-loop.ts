import { createGroup, deliveryCounts, errorFields, isNoGroupError, type RawEntry, type StreamConsumer } from '@stream-workers/core';
import type { Scheduler } from './scheduler';
import type { WorkerState } from './state';

/**
 * The most bytes one read asks for: with large events a read asks for fewer than batchSize entries,
 * by the size of the entries of the last reply (100 events of 256 KiB would be one 26 MB reply; the
 * read-ahead would hold three). Large events then cost what they cost at a small batch size, and the
 * worker holds at most a few such replies plus what its handlers hold.
 */
export const READ_MAX_REPLY_BYTES = 4 << 20;
/** Entries the first read asks for, before any entry size is known (MAX_EVENT_BYTES: 16 × 256 KiB = 4 MiB). */
const FIRST_READ_COUNT = 16;

/**
 * The read loop: this consumer's own pending entries first (id `0`: a restarted consumer resumes, and
 * after a failed read: a lost reply may have delivered entries), then new ones (`>`), `batchSize` at a
 * time on the read connection. One blocking read when caught up; two non-blocking ones in flight while
 * a backlog lasts. NOGROUP recreates the group at groupStartId; Redis errors back off (capped at 5 s);
 * both log only on state changes.
 */
export class ReadLoop {
  /** Cursor in this consumer's own pending list while working it off; undefined = reading new entries. */
  private pendingCursor: string | undefined = '0';

  constructor(
    private readonly s: WorkerState,
    private readonly consumer: StreamConsumer,
    private readonly sched: Scheduler,
  ) {}

  async run(): Promise<void> {
    const s = this.s;
    let backoff = 0;
    // Reads of new entries in flight on the read connection, oldest first (replies come in order).
    const ahead: Promise<RawEntry[]>[] = [];
    // True while reads come back full: then up to two non-blocking reads are kept in flight.
    let backlog = false;
    while (!s.stopping) {
      try {
        if (this.pendingCursor !== undefined) {
          await this.readOwnPending();
          continue;
        }
        this.readAhead(ahead, backlog);
        if (ahead.length === 0) {
          await this.sched.waitForRoom();
          continue;
        }
        const entries = await ahead.shift()!;
        this.readSucceeded();
        backoff = 0;
        // A full reply (of what is asked now): a backlog.
        backlog = entries.length >= this.count();
        if (entries.length > 0) this.sched.accept(entries, undefined);
      } catch (err) {
        backlog = false;
        await this.acceptSettled(ahead.splice(0));
        if (s.stopping) break;
        backoff = Math.min(5000, backoff === 0 ? 100 : backoff * 2);
        // A reply lost on the way may have delivered entries to us: work off our pending list again.
        this.pendingCursor = '0';
        backoff = await this.onReadError(err, backoff);
        await s.sleep(backoff);
      }
    }
    // Stopping: what reads still on the way deliver is ours now; it runs within the grace.
    await this.acceptSettled(ahead.splice(0));
  }

  /**
   * Starts reads while there is room: entries queued plus batches on the way stay under 2 × the
   * count asked for (≤ batchSize: the worker holds < concurrency + 3 × batchSize).
   */
  private readAhead(ahead: Promise<RawEntry[]>[], backlog: boolean): void {
    const { queue } = this.s;
    const c = this.count();
    while (ahead.length < (backlog ? 2 : 1) && queue.length + ahead.length * c < 2 * c) {
      const read = this.consumer.read(c, undefined, !backlog);
      read.catch(() => undefined); // awaited in order; a later one may reject first
      ahead.push(read);
    }
  }

  /**
   * Entries to ask for: batchSize, fewer when that many entries of the last reply's size exceed
   * READ_MAX_REPLY_BYTES; at most {@link FIRST_READ_COUNT} while no entry size is known yet.
   */
  private count(): number {
    const b = this.s.o.batchSize;
    const size = this.consumer.bytesPerEntry;
    if (size === 0) return Math.min(b, FIRST_READ_COUNT);
    return size * b <= READ_MAX_REPLY_BYTES ? b : Math.max(1, Math.floor(READ_MAX_REPLY_BYTES / size));
  }

  /** Logs and reports a failed read (once per outage); recreates a missing group. Returns the backoff to use. */
  private async onReadError(err: unknown, backoff: number): Promise<number> {
    const s = this.s;
    if (isNoGroupError(err)) {
      if (!s.groupMissing) {
        s.log.warn({ ...errorFields(err) }, 'stream or consumer group missing; recreating it');
        s.emitError('read', err, true);
      }
      s.groupMissing = true;
      try {
        if (await createGroup(s.cmd, s.o.stream, s.o.group, s.o.groupStartId)) s.log.info({ startId: s.o.groupStartId }, 'consumer group created');
      } catch {
        /* Redis trouble: the next read reports it */
      }
      return Math.min(backoff, 1000);
    }
    if (s.redisOk) {
      s.log.warn({ ...errorFields(err), backoffMs: backoff }, 'reading from redis failed; retrying with backoff');
      s.emitError('read', err, true);
    }
    s.redisOk = false;
    return backoff;
  }

  private readSucceeded(): void {
    const s = this.s;
    if (!s.redisOk || s.groupMissing) {
      s.log.info({ wasRedisDown: !s.redisOk, wasGroupMissing: s.groupMissing }, 'consuming again');
      s.redisOk = true;
      s.groupMissing = false;
    }
  }

  /** Waits for reads still in flight and takes in whatever they delivered. */
  private async acceptSettled(reads: Promise<RawEntry[]>[]): Promise<void> {
    for (const r of await Promise.allSettled(reads)) {
      if (r.status === 'fulfilled' && r.value.length > 0) this.sched.accept(r.value, undefined);
    }
  }

  /** One read of this consumer's own pending list (after a restart or a lost reply); delivery counters decide retry vs dead letter. */
  private async readOwnPending(): Promise<void> {
    const s = this.s;
    const entries = await this.consumer.read(this.count(), this.pendingCursor);
    this.readSucceeded();
    if (entries.length === 0) {
      this.pendingCursor = undefined;
      return;
    }
    this.pendingCursor = entries[entries.length - 1]![0];
    const fresh = entries.filter(([id]) => !s.held.has(id));
    const counts = fresh.length ? await deliveryCounts(s.cmd, s.o.stream, s.o.group, s.o.consumer, fresh.map(([id]) => id)) : new Map<string, number>();
    this.sched.accept(fresh, counts);
  }
}
