import type { Logger } from 'pino';
import { errorFields, type DeadLetterReason } from '@stream-workers/core';

/** `error`: something went wrong that the worker logs as a warning or an error. */
export interface WorkerErrorEvent {
  error: Error;
  /** Where: connecting at start, reading (Redis unreachable, stream or group missing), acking, dead-lettering, closing. */
  during: 'start' | 'read' | 'ack' | 'dead-letter' | 'close';
  /**
   * true: the worker carries on and retries by itself (emitted once per outage, as it logs);
   * false: it gave the operation up (an entry stays pending and is reclaimed after claimIdleMs).
   */
  recovered: boolean;
  /** The stream entry concerned, when there is one. */
  entryId?: string | undefined;
}

/** `failed`: one delivery's handler threw or rejected. */
export interface FailedEvent {
  /** The stream entry id. */
  entryId: string;
  /** The event's (CloudEvents) `id`. */
  eventId: string;
  type: string;
  /** This delivery's count (1 = first delivery). */
  deliveryCount: number;
  maxDeliveries: number;
  /** What the handler threw, as it threw it. */
  error: unknown;
  /** true: retried after `retryInMs`; false: this was the last delivery, a `deadLettered` event follows. */
  willRetry: boolean;
  retryInMs: number | undefined;
}

/** `deadLettered`: an entry was copied to the dead-letter stream and acked. */
export interface DeadLetteredEvent {
  entryId: string;
  /** The event's `id`; undefined for a malformed entry without one. */
  eventId: string | undefined;
  /** `max_deliveries` (failed on its last delivery), `malformed` (the envelope codec could not read it) or `schema` (the payload failed its contract). */
  reason: DeadLetterReason;
  /** The last error message (the `dlq_error` field). */
  error: string;
  deliveries: number;
  deadLetterStream: string;
}

/** `drained`: close() finished; the worker's connections are closed. */
export interface DrainedEvent {
  /** close({ force: true }) decided it. */
  forced: boolean;
  /** The consumer was deleted from the group (it held nothing pending). */
  consumerDeleted: boolean;
  /** Entries still pending for this consumer (abandoned ones, or what could not be handed back). */
  pending: number;
  /** Entries read but not run (or waiting for a retry), handed back: others reclaim them at once. */
  handedBack: number;
  /** Handlers whose `ctx.signal` was aborted when the shutdown grace ran out. */
  aborted: number;
  /** Handlers still running when close({ force: true }) returned: their entries stay pending until reclaimed after claimIdleMs. */
  abandoned: number;
  durationMs: number;
}

/** The worker's events and their payloads. */
export interface WorkerEvents {
  error: WorkerErrorEvent;
  failed: FailedEvent;
  deadLettered: DeadLetteredEvent;
  drained: DrainedEvent;
}

export type WorkerEventName = keyof WorkerEvents;
export type WorkerListener<E extends WorkerEventName> = (payload: WorkerEvents[E]) => void | Promise<void>;

type Registered<E extends WorkerEventName> = { fn: WorkerListener<E>; once: boolean };

/**
 * The worker's listeners. Not a Node EventEmitter on purpose: an `error` event without a listener
 * must not throw (the worker logs it either way), and a listener that throws or rejects must not
 * break the worker (it is logged and ignored). Listeners run synchronously, in order.
 */
export class WorkerEmitter {
  private readonly listeners: { [E in WorkerEventName]: Registered<E>[] } = { error: [], failed: [], deadLettered: [], drained: [] };

  constructor(private readonly log: Logger) {}

  on<E extends WorkerEventName>(event: E, fn: WorkerListener<E>, once = false): void {
    if (typeof fn !== 'function') throw new TypeError(`worker.on(${JSON.stringify(event)}): the listener must be a function`);
    this.list(event).push({ fn, once });
  }

  off<E extends WorkerEventName>(event: E, fn: WorkerListener<E>): void {
    const list = this.list(event);
    const i = list.findIndex((r) => r.fn === fn);
    if (i >= 0) list.splice(i, 1);
  }

  /** True when `event` has a listener (payloads are built only then). */
  has(event: WorkerEventName): boolean {
    return this.listeners[event].length > 0;
  }

  emit<E extends WorkerEventName>(event: E, payload: WorkerEvents[E]): void {
    const list = this.listeners[event] as Registered<E>[];
    if (list.length === 0) return;
    for (const r of [...list]) {
      if (r.once) this.off(event, r.fn);
      try {
        const result = r.fn(payload);
        if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, (err: unknown) => this.listenerFailed(event, err));
      } catch (err) {
        this.listenerFailed(event, err);
      }
    }
  }

  private list<E extends WorkerEventName>(event: E): Registered<E>[] {
    const list = this.listeners[event] as Registered<E>[] | undefined;
    if (!Array.isArray(list) || !Object.hasOwn(this.listeners, event)) {
      throw new TypeError(`worker.on(${JSON.stringify(event)}): unknown event; the events are ${Object.keys(this.listeners).join(', ')}`);
    }
    return list;
  }

  private listenerFailed(event: WorkerEventName, err: unknown): void {
    this.log.error({ event, ...errorFields(err) }, 'a worker event listener threw; ignored');
  }
}
