import { StreamProducer, closeRedis, createRedis, type Logger, type StreamProducerOptions, type RedisConnection } from '@stream-workers/core';

/** Options of {@link createPublisher}: a Redis URL and the {@link StreamProducer}'s own options. */
export interface PublisherOptions extends Omit<StreamProducerOptions, 'redis'> {
  /** `redis://…` or `rediss://…` (ACL user and password in the URL). */
  redisUrl: string;
  /** Connection name shown by `CLIENT LIST`; default `publisher`. */
  name?: string;
  /** Logs the connection's state changes (lost, restored); default none. */
  logger?: Logger;
}

/** A {@link StreamProducer} on a connection of its own; `close()` closes that connection. */
export interface Publisher {
  /** The publishing library (validated, idempotent, batched appends). */
  readonly producer: StreamProducer;
  /** The connection the producer appends on. */
  readonly redis: RedisConnection;
  /** Closes the connection (pending appends finish first); idempotent. */
  close(): Promise<void>;
}

/**
 * The publishing library without the HTTP service: a {@link StreamProducer} on its own Redis
 * connection. Throws a RangeError naming a bad option (and opens no connection then).
 *
 * @example
 * const publisher = createPublisher({ redisUrl: 'redis://127.0.0.1:6379' });
 * await publisher.producer.publish('orders', [{ type: 'order.created', source: 'shop', data: { id: 1 } }]);
 * await publisher.close();
 */
export function createPublisher(options: PublisherOptions): Publisher {
  const { redisUrl, name, logger, ...producerOptions } = options;
  if (typeof redisUrl !== 'string' || !/^rediss?:\/\//.test(redisUrl)) {
    throw new RangeError(`createPublisher: option redisUrl must be a redis:// or rediss:// URL, got ${typeof redisUrl === 'string' ? JSON.stringify(redisUrl) : typeof redisUrl}`);
  }
  // With minReplicasAck, nothing is re-sent after a reconnect: a WAIT only ever confirms the append before it.
  const resend = (producerOptions.minReplicasAck ?? 0) > 0 ? { overrides: { autoResendUnfulfilledCommands: false } } : {};
  const redis = createRedis({ url: redisUrl, role: 'command', name: name ?? 'publisher', ...(logger ? { logger } : {}), ...resend });
  let producer: StreamProducer;
  try {
    producer = new StreamProducer({ ...producerOptions, redis });
  } catch (err) {
    // A bad producer option: no connection stays open.
    redis.disconnect();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    producer,
    redis,
    close: () => (closing ??= closeRedis(redis)),
  };
}
