import { claimForRetry, claimIdle, errorFields, isNoGroupError, keepFresh } from '@stream-workers/core';
import type { AckBatcher } from './acks';
import type { Scheduler } from './scheduler';
import type { WorkerState } from './state';

/**
 * Ownership of pending entries, on timers the worker starts: keeps what it holds fresh (so nobody
 * reclaims what runs here), retries its failed entries after their backoff, and reclaims other
 * consumers' entries idle ≥ claimIdleMs (XAUTOCLAIM), never earlier.
 */
export class Ownership {
  private refreshing: Promise<void> | undefined;
  private claimCursor = '0-0';

  constructor(
    private readonly s: WorkerState,
    private readonly sched: Scheduler,
    private readonly acks: AckBatcher,
  ) {}

  /**
   * Keeps every held entry fresh (owner-checked XCLAIM JUSTID); entries found reclaimed are dropped
   * (or, when running, marked lost). One round at a time; a successful one pumps the queue.
   */
  refreshHeld(): Promise<void> {
    this.refreshing ??= this.refreshRound().then((ok) => {
      this.refreshing = undefined;
      if (ok) this.sched.pump();
    });
    return this.refreshing;
  }

  /** One keep-fresh round; true when Redis confirmed what this worker owns. */
  private async refreshRound(): Promise<boolean> {
    const s = this.s;
    const ids: string[] = [];
    for (const [id, h] of s.held) if (!h.lost) ids.push(id);
    const startedAt = Date.now();
    if (ids.length === 0) {
      s.lastFreshAt = startedAt;
      return true;
    }
    try {
      const lost = await keepFresh(s.cmd, s.o.stream, s.o.group, s.o.consumer, ids);
      s.lastFreshAt = startedAt;
      this.dropLost(lost);
      return true;
    } catch (err) {
      s.onCommandError(err); // the read loop reports Redis trouble
      return false;
    }
  }

  /** Entries this worker no longer owns in Redis: stop holding those not running (a running one still acks when done). */
  private dropLost(lost: string[]): void {
    const s = this.s;
    let n = 0;
    for (const id of lost) {
      const h = s.held.get(id);
      if (!h || h.lost) continue; // finished meanwhile, or already counted
      n += 1;
      if (h.state !== 'running') s.held.delete(id); // queued ones are skipped by pump()
      else h.lost = true; // still runs here: its ack completes the entry for the group; the new owner's later ack is a no-op
    }
    if (n > 0) {
      s.m.lost.inc(n);
      s.log.warn({ count: n }, 'entries held here were reclaimed by another consumer or acked elsewhere; dropping them');
    }
  }

  /** Retries failed entries whose backoff elapsed: claim them again (a counted delivery) and queue them. */
  async retryDue(): Promise<void> {
    const s = this.s;
    if (s.stopping) return;
    const now = Date.now();
    const due: string[] = [];
    for (const [id, h] of s.held) if (h.state === 'waiting' && h.retryAt <= now) due.push(id);
    if (due.length === 0) return;
    try {
      const { claimed, lost } = await claimForRetry(s.cmd, s.o.stream, s.o.group, s.o.consumer, due);
      this.dropLost(lost);
      for (const [id, fields] of claimed) {
        const h = s.held.get(id);
        if (!h || h.state !== 'waiting') continue;
        if (fields === null) {
          s.held.delete(id);
          this.acks.ack(id);
          continue;
        }
        h.deliveries += 1;
        h.state = 'queued';
        s.queue.push(id);
      }
      this.sched.pump();
    } catch (err) {
      s.onCommandError(err); // retried at the next tick
    }
  }

  /** XAUTOCLAIM: takes over entries idle ≥ claimIdleMs (crashed consumers', or orphans), as room allows. */
  async reclaimIdle(): Promise<void> {
    const s = this.s;
    let claimed = 0;
    try {
      for (let round = 0; round < 10 && !s.stopping; round++) {
        const room = s.capacity - s.running - s.queue.length;
        if (room <= 0) break;
        const r = await claimIdle(s.cmd, s.o.stream, s.o.group, s.o.consumer, s.o.claimIdleMs, room, this.claimCursor);
        this.claimCursor = r.next;
        if (r.entries.length > 0) {
          claimed += r.entries.length;
          this.sched.accept(r.entries, r.deliveries);
        }
        if (r.next === '0-0') break;
      }
    } catch (err) {
      s.onCommandError(err);
      if (!isNoGroupError(err)) s.log.debug({ ...errorFields(err) }, 'XAUTOCLAIM failed');
    }
    if (claimed > 0) {
      s.m.claimed.inc(claimed);
      s.log.info({ count: claimed, claimIdleMs: s.o.claimIdleMs }, 'reclaimed idle entries');
    }
  }
}
