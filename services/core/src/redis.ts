import Redis, { type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { errorFields } from './logger';
import { isReadOnly } from './redis-errors';

/**
 * What a connection is for. `command`: request/response work (XADD, XACK, XINFO). A command issued
 * while Redis is down is retried over at most one reconnection and then fails, so callers (an HTTP
 * request with a deadline, the exporter's scrape) can answer 503 / `exporter_up 0` instead of hanging.
 * Blocking reads (`XREADGROUP … BLOCK`) never use these connections: the worker reads on a connection
 * of its own (`StreamConsumer` in streams/consumer.ts), which never re-sends a read.
 */
export type RedisRole = 'command';

/** Options for {@link createRedis}. */
export interface CreateRedisOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  role: RedisRole;
  /** CLIENT SETNAME, visible in `CLIENT LIST` (e.g. `worker:<consumer>`). */
  name?: string;
  logger?: Logger;
  /** Cap of the reconnect backoff in ms; default 2000. Backoff is 50 ms × attempt, capped. */
  maxBackoffMs?: number;
  /** Timeout of a TCP connect attempt in ms; default 5000. */
  connectTimeoutMs?: number;
  /** Extra ioredis options (tests). */
  overrides?: RedisOptions;
}

/** Reconnect delay for attempt `n` (1-based): 50 ms × n with ±20 % jitter, capped at `max`. */
export function reconnectDelay(attempt: number, max = 2000): number {
  const base = Math.min(max, 50 * attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Redacts the password of a Redis URL for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * An ioredis connection with reconnection (capped backoff, forever), TCP keep-alive and logging of
 * state changes (one line per change, not per attempt). `rediss://` enables TLS; ACL users come
 * from the URL's user part.
 */
export function createRedis(opts: CreateRedisOptions): Redis {
  const maxBackoff = opts.maxBackoffMs ?? 2000;
  const log = opts.logger;
  const client = new Redis(opts.url, {
    connectionName: opts.name,
    lazyConnect: false,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    keepAlive: 10_000,
    enableAutoPipelining: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => reconnectDelay(attempt, maxBackoff),
    // READONLY after a failover: reconnect so the client follows the new primary.
    reconnectOnError: (err) => isReadOnly(err),
    ...opts.overrides,
  });
  if (log) {
    let down = false;
    client.on('ready', () => {
      if (down) log.info({ redis: redactUrl(opts.url), role: opts.role }, 'redis connection restored');
      down = false;
    });
    client.on('error', (err) => {
      if (!down) log.warn({ redis: redactUrl(opts.url), role: opts.role, ...errorFields(err) }, 'redis connection lost; reconnecting');
      down = true;
    });
  } else {
    // Without a listener ioredis prints every connection error to stderr.
    client.on('error', () => undefined);
  }
  return client;
}

/** True when the connection is usable right now. */
export function isRedisReady(client: Redis): boolean {
  return client.status === 'ready';
}

/**
 * Waits until the connection is ready, at most `timeoutMs`; resolves false on timeout (never throws).
 * Services call it before they listen, so a request that arrives right after start-up does not see a
 * connection still being set up as an outage; Redis being down at start still lets them start.
 */
export function waitForReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/** Closes a connection: QUIT when connected (flushes replies), else disconnect. Never throws. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    /* already closing */
  }
  client.disconnect(false);
}
