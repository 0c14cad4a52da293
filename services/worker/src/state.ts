import { setMaxListeners } from 'node:events';
import type { RedisConnection } from '@stream-workers/core';
import type { Logger } from 'pino';
import type { ResolvedWorkerOptions } from './options';
import type { WorkerEmitter, WorkerErrorEvent } from './events';
import type { WorkerMetrics } from './worker-metrics';

/** One entry the worker holds (read, running, or waiting for a retry). */
export interface Held {
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

/**
 * What the parts of a worker share (read loop, scheduler, acks, ownership, drain): the options, the
 * command connection, the entries held and the flags of its life cycle.
 */
export class WorkerState {
  readonly held = new Map<string, Held>();
  /** Ids of held entries waiting for a handler slot, in order. */
  readonly queue: string[] = [];
  running = 0;
  /** close() was called: no more reads, no more retries. */
  stopping = false;
  /** The connections are closed: a handler abandoned by close({ force: true }) that finishes later is not acked. */
  closed = false;
  redisOk = false;
  groupMissing = false;
  /** When this worker last confirmed (keep-fresh) that it owns what it holds. */
  lastFreshAt = Date.now();
  readonly abort = new AbortController();
  /** Entries held at most: concurrency + 3 × batchSize. */
  readonly capacity: number;

  constructor(
    readonly o: ResolvedWorkerOptions,
    readonly log: Logger,
    readonly cmd: RedisConnection,
    readonly events: WorkerEmitter,
    readonly m: WorkerMetrics,
  ) {
    this.capacity = o.concurrency + 3 * o.batchSize;
    // Every running handler may listen to the abort signal.
    setMaxListeners(0, this.abort.signal);
  }

  emitError(during: WorkerErrorEvent['during'], err: unknown, recovered: boolean, entryId?: string): void {
    if (this.events.has('error')) this.events.emit('error', { error: err instanceof Error ? err : new Error(String(err)), during, recovered, entryId });
  }

  /** A command without reply past commandTimeoutMs: the connection is likely dead without knowing it. */
  onCommandError(err: unknown): void {
    if (err instanceof Error && err.message === 'Command timed out' && this.cmd.status === 'ready') this.cmd.disconnect(true);
  }

  /** Sleeps `ms`, less when the worker's abort signal fires. */
  sleep(ms: number): Promise<void> {
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
}

export const sleepPlain = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
