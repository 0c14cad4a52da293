import type { Logger } from 'pino';
import type { StreamEvent } from '@stream-workers/core';

/** What a handler gets besides the event. */
export interface HandlerContext {
  stream: string;
  /** The stream entry id. */
  entryId: string;
  /** 1 on first delivery; counts redeliveries (retries, reclaims after a crash). */
  deliveryCount: number;
  /** A child logger carrying `correlationid`, `entryId` and `type`. */
  logger: Logger;
  /** Aborted when the shutdown grace runs out: stop and throw (the entry is retried elsewhere). */
  signal: AbortSignal;
}

/**
 * A user handler: resolve = done (the entry is acked), throw/reject = failed (retried, then dead-lettered).
 * `event` holds the CloudEvents attributes, `event.extensions` (by name; strings, integers, booleans) and
 * `event.data`: a JSON value, a string (text), a Buffer (bytes) or undefined. `sendEvent` of
 * `@stream-workers/core` sends it on over HTTP (binary or structured mode) without losing any of it.
 */
export type Handler = (event: StreamEvent, ctx: HandlerContext) => Promise<void> | void;
