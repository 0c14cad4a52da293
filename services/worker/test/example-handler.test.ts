/** The example handler (services/worker/examples/order-handler.js) run by a real worker process. */
import Redis from 'ioredis';
import { join } from 'node:path';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { REPO_ROOT, waitFor } from '../../../test-support/process';
import { fill, startWorker, waitDrained, workerPort } from './support';

test('example order handler: applies each order once, skips a redelivered duplicate, dead-letters an order without id', async () => {
  const redis = new Redis(SHARED_REDIS_URL);
  const prefix = uniquePrefix('example');
  const stream = `${prefix}:events`;
  const w = startWorker({
    REDIS_URL: SHARED_REDIS_URL, STREAM: stream, CONSUMER: 'ex', MAX_DELIVERIES: '2', RETRY_DELAY_MS: '10',
    HANDLER: join(REPO_ROOT, 'services', 'worker', 'examples', 'order-handler.js'), ORDERS_PREFIX: `${prefix}:orders`,
  });
  try {
    await workerPort(w);
    // Orders o0..o4, the same order o1 published twice (a producer retry), one order without id.
    await fill(redis, stream, 7, () => 'order.created', (i) => (i === 6 ? { amount: 1 } : { orderId: `o${i === 5 ? 1 : i}`, amount: 10, currency: 'EUR' }));
    await waitDrained(redis, stream, 'workers');
    await waitFor(async () => (await redis.xlen(`${stream}:dlq`)) === 1, 10_000, 50, 'one dead letter');
    expect(await redis.hget(`${prefix}:orders:totals`, 'EUR')).toBe(String(5 * 1000));
    expect(w.logs.filter((l) => l.msg === 'order already applied; skipping duplicate')).toHaveLength(1);
    expect(w.logs.every((l) => l.msg !== 'order applied' || typeof l.correlationid === 'string')).toBe(true);
  } finally {
    w.kill('SIGTERM');
    await w.exited;
    await deleteKeys(redis, prefix);
    redis.disconnect();
  }
});
