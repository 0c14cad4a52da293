import type { RedisConnection } from '../redis';

/**
 * Why an entry went to the dead-letter stream: `max_deliveries` (the handler failed that often),
 * `malformed` (the entry could not be read as an event), `schema` (the payload failed the handler's
 * contract), `unrouted` (no handler method takes its type
 * and schema version: @stream-workers/nestjs).
 */
export type DeadLetterReason = 'max_deliveries' | 'malformed' | 'schema' | 'unrouted';

const DEAD_LETTER_ERROR = Symbol.for('@stream-workers/core/DeadLetterError');

/**
 * Thrown by a handler: the entry goes to the dead-letter stream on this delivery, with this reason and
 * message, without retries (a retry cannot help). Recognised across copies of this package.
 */
export class DeadLetterError extends Error {
  /** Marks the error for {@link isDeadLetterError}. */
  readonly [DEAD_LETTER_ERROR] = true;
  /**
   * @param reason The `dlq_reason` written with the dead letter.
   * @param message The `dlq_error` written with the dead letter.
   */
  constructor(
    readonly reason: DeadLetterReason,
    message: string,
  ) {
    super(message);
    this.name = 'DeadLetterError';
  }
}

/** True for a {@link DeadLetterError}, also one made by another copy of @stream-workers/core. */
export function isDeadLetterError(err: unknown): err is DeadLetterError {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[DEAD_LETTER_ERROR] === true;
}

/** One entry to dead-letter, with what is known about it. */
export interface DeadLetterEntry {
  /** The original entry id in the source stream. */
  entryId: string;
  /** The original fields (flat list), copied unchanged. */
  fields: readonly string[];
  /** Why it was dead-lettered (`dlq_reason`). */
  reason: DeadLetterReason;
  /** Last error message (truncated to 2 KiB). */
  error: string;
  /** Deliveries it had (`dlq_deliveries`). */
  deliveries: number;
  /** The consumer that dead-lettered it (`dlq_consumer`). */
  consumer: string;
}

/**
 * Moves entries to the dead-letter stream and acks them in the source group, atomically (MULTI/EXEC):
 * either the copy exists and the entry is acked, or neither. Dead-letter fields: the original fields
 * plus `dlq_reason`, `dlq_error`, `dlq_deliveries`, `dlq_origin_id`, `dlq_consumer`, `dlq_time`
 * (docs/design.md, "Redis keys").
 */
export async function moveToDeadLetter(redis: RedisConnection, stream: string, group: string, dlq: string, entries: readonly DeadLetterEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const multi = redis.multi();
  const now = new Date().toISOString();
  for (const e of entries) {
    multi.xadd(
      dlq, '*', ...e.fields,
      'dlq_reason', e.reason,
      'dlq_error', e.error.slice(0, 2048),
      'dlq_deliveries', String(e.deliveries),
      'dlq_origin_id', e.entryId,
      'dlq_consumer', e.consumer,
      'dlq_time', now,
    );
  }
  multi.xack(stream, group, ...entries.map((e) => e.entryId));
  const res = await multi.exec();
  const failed = res?.find(([err]) => err);
  if (!res || failed) throw failed?.[0] ?? new Error('dead-letter transaction aborted');
}
