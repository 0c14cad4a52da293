import type Redis from 'ioredis';
export { LocalRedis as PrivateRedis, freePort } from '../services/core/src/local-redis';

/** A unique key prefix for tests on the shared Redis. */
export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
}

/** The shared Redis of the machine (never flushed or reconfigured): unique keys only. */
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key under a prefix on the shared Redis (only keys this test made). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * A client of the shared Redis for the tests of one file or describe block, its keys under `prefix`:
 * after them, those keys are deleted and the client closed. Call at file or describe level (jest).
 */
export function useSharedRedis(name: string): { prefix: string; redis: Redis } {
  const prefix = uniquePrefix(name);
  // Loaded here, not at the top: this module's other exports are used outside jest without ioredis' runtime.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const IORedis = require('ioredis') as typeof import('ioredis').default;
  const redis = new IORedis(SHARED_REDIS_URL);
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });
  return { prefix, redis };
}
