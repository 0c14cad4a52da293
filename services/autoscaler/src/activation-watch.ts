import { errorFields, type Logger, type RedisConnection } from '@stream-workers/core';

/** Options for {@link ActivationWatch}. */
export interface ActivationWatchOptions {
  /** A DEDICATED connection: it spends its time in a blocking XREAD. Closed by {@link ActivationWatch.close}. */
  redis: RedisConnection;
  stream: string;
  /** True while the target runs 0 replicas (the autoscaler's last reading). */
  isIdle: () => boolean;
  /** Called when an entry arrives while idle: the autoscaler decides at once. */
  onEntry: () => void;
  logger: Logger;
  /** Longest block of one XREAD in ms (then it re-checks isIdle); default 5000. */
  blockMs?: number;
  /** While replicas run, how often isIdle (an in-process flag, no Redis call) is re-checked, in ms; default 250. */
  idleCheckMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/**
 * Activation from zero without tight polling: while the target runs 0 replicas, a blocking
 * `XREAD BLOCK <blockMs> STREAMS <stream> <last id>` waits at the stream's tail, and Redis answers the
 * moment an entry is added; the watch then asks for a decision at once, so 0 → 1 takes a round trip
 * instead of up to `POLL_INTERVAL_MS`. The tail's id is read (XREVRANGE) when the watch becomes idle and
 * carried from one XREAD to the next, so an entry added while no XREAD is blocked (between two blocks, or
 * before the first reached Redis) still wakes it; `$` would miss it. While replicas run it makes no Redis
 * call at all.
 */
export class ActivationWatch {
  private closed = false;
  private loop: Promise<void> | undefined;
  private failing = false;
  /** The id the next XREAD reads after; undefined: read the tail first (set again whenever replicas ran). */
  private lastId: string | undefined;
  /** Times an entry woke the watch while idle. */
  wakeups = 0;

  constructor(private readonly opts: ActivationWatchOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops the watch and closes its connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.opts.redis.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { redis, stream, logger } = this.opts;
    while (!this.closed) {
      if (!this.opts.isIdle()) {
        this.lastId = undefined;
        await sleep(this.opts.idleCheckMs ?? 250);
        continue;
      }
      try {
        this.lastId ??= await this.tailId();
        const reply = await redis.xread('COUNT', 1, 'BLOCK', this.opts.blockMs ?? 5000, 'STREAMS', stream, this.lastId);
        if (this.failing) logger.info({ stream }, 'activation watch: redis readable again');
        this.failing = false;
        const id = reply?.[0]?.[1]?.[0]?.[0];
        if (id !== undefined) this.lastId = id;
        if (reply && !this.closed && this.opts.isIdle()) {
          this.wakeups += 1;
          logger.info({ stream }, 'activation watch: first entry at 0 replicas, deciding now');
          this.opts.onEntry();
          // Give the decision time to apply before blocking again.
          await sleep(this.opts.idleCheckMs ?? 250);
        }
      } catch (err) {
        if (this.closed) return;
        if (!this.failing) logger.warn({ stream, ...errorFields(err) }, 'activation watch: XREAD failed; retrying (the decision loop still polls)');
        this.failing = true;
        await sleep(1000);
      }
    }
  }

  /** The id of the stream's last entry; `0-0` for an empty or missing stream (its first entry wakes the watch). */
  private async tailId(): Promise<string> {
    const last = await this.opts.redis.xrevrange(this.opts.stream, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }
}
