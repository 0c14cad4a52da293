import { errorFields, outstandingOf, type BacklogObservation, type Logger, type RedisConnection } from '@stream-workers/core';

/** Reads a group's backlog: core's `readGroupBacklog` (streams/lag-commands.ts), injectable for tests. */
export type BacklogReader = (redis: RedisConnection, stream: string, group: string) => Promise<BacklogObservation>;

/** Options for {@link BacklogSource}. */
export interface BacklogSourceOptions {
  redis: RedisConnection;
  stream: string;
  group: string;
  read: BacklogReader;
  logger: Logger;
}

/** The last observation, for logs and metrics. */
export type BacklogReading =
  | { ok: true; outstanding: number; status: BacklogObservation['status'] }
  | { ok: false; error: string };

/**
 * The scaling signal: outstanding entries (lag + pending) of one group; a missing group counts the
 * whole stream, a missing stream is 0, and a failed read is `undefined` (the decider then holds).
 * Logs state changes only (unreachable / back), never one line per failed poll.
 */
export class BacklogSource {
  private failing = false;
  last: BacklogReading | undefined;

  constructor(private readonly opts: BacklogSourceOptions) {}

  async read(): Promise<number | undefined> {
    try {
      const obs = await this.opts.read(this.opts.redis, this.opts.stream, this.opts.group);
      const outstanding = outstandingOf(obs);
      if (this.failing) this.opts.logger.info({ stream: this.opts.stream, group: this.opts.group }, 'backlog readable again');
      this.failing = false;
      this.last = { ok: true, outstanding, status: obs.status };
      return outstanding;
    } catch (err) {
      if (!this.failing) {
        this.opts.logger.warn(
          { stream: this.opts.stream, group: this.opts.group, ...errorFields(err) },
          'cannot read the backlog: holding the current replica count (or FALLBACK_REPLICAS) until it is readable',
        );
      }
      this.failing = true;
      this.last = { ok: false, error: err instanceof Error ? err.message : String(err) };
      return undefined;
    }
  }
}
