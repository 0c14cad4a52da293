import { errorFields, isNoGroupError } from '@stream-workers/core';
import { sleepPlain, type WorkerState } from './state';

/**
 * Acks collected into multi-id XACKs on the command connection: one per event-loop turn, sent while
 * the next read is in flight (no round trip per event); one XACK in flight at a time.
 */
export class AckBatcher {
  private acks: string[] = [];
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private givenUp = false;

  constructor(private readonly s: WorkerState) {}

  /** Queues an ack. */
  ack(id: string): void {
    if (this.s.closed) return; // a handler close({ force: true }) abandoned: its entry stays pending and is reclaimed elsewhere
    this.acks.push(id);
    this.schedule();
  }

  /** Sends every queued ack (retrying while Redis does not answer) until {@link giveUp}. */
  async flushAll(): Promise<void> {
    while ((this.acks.length > 0 || this.inFlight) && !this.givenUp) await this.flush();
  }

  /** close(): stop retrying acks (unacked entries are redelivered: at least once). */
  giveUp(): void {
    this.givenUp = true;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** Sends the queued acks (acks arriving meanwhile go in the next XACK). */
  private flush(): Promise<void> {
    if (!this.inFlight && this.acks.length > 0) {
      const ids = this.acks;
      this.acks = [];
      this.inFlight = this.send(ids).finally(() => {
        this.inFlight = undefined;
        if (this.acks.length > 0) this.schedule();
      });
    }
    return this.inFlight ?? Promise.resolve();
  }

  private async send(ids: string[]): Promise<void> {
    const { cmd, o, log } = this.s;
    let warned = false;
    for (let attempt = 1; ; attempt++) {
      try {
        for (let i = 0; i < ids.length; i += 1000) {
          await cmd.xack(o.stream, o.group, ...(ids.length <= 1000 ? ids : ids.slice(i, i + 1000)));
        }
        if (warned) log.info({ count: ids.length }, 'acks sent after retrying');
        return;
      } catch (err) {
        if (isNoGroupError(err)) return; // the group is gone: nothing left to ack
        this.s.onCommandError(err);
        if (!warned) {
          log.warn({ count: ids.length, ...errorFields(err) }, 'XACK failed; retrying until redis answers');
          this.s.emitError('ack', err, true);
        }
        warned = true;
        // Unacked entries are redelivered (at least once); give up only when close() says so.
        if (this.givenUp) return;
        await sleepPlain(Math.min(2000, 50 * attempt));
      }
    }
  }
}
