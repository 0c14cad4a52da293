/**
 * ShardedWorker (the library; shared Redis, unique keys): one worker reads every shard with one
 * group, dead-letters each shard's poison into that shard's dead-letter stream, reports one set of
 * metrics, and refuses a deadLetterStream option with shards.
 */
import Redis from 'ioredis';
import { buildEvent, createLogger, createRegistry, deadLetterKey, shardKeys, toFields } from '@stream-workers/core';
import { ShardedWorker } from '../src';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

const prefix = uniquePrefix('sharded-worker');
let redis: Redis;
let worker: ShardedWorker | undefined;

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});
afterAll(async () => {
  await worker?.close({ force: true });
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

test('reads every shard under one group; poison goes to its own shard\'s dead-letter stream; one set of metrics', async () => {
  const stream = `${prefix}:orders`;
  const keys = shardKeys(stream, 3);
  const seen = new Set<string>();
  const registry = createRegistry({ processMetrics: false });
  worker = new ShardedWorker({
    redisUrl: SHARED_REDIS_URL, stream, group: 'g', consumer: 'c1', shards: 3, concurrency: 6, maxDeliveries: 1, blockMs: 100,
    logger: createLogger({ service: 't', level: 'silent' }), registry,
  }, async (e) => {
    if (e.type === 'poison') throw new Error('poison');
    seen.add(e.id);
  });
  expect(worker.shards).toHaveLength(3);
  await worker.start();
  const ids: string[] = [];
  for (const [i, k] of keys.entries()) {
    for (let n = 0; n < 10; n++) {
      const e = buildEvent({ id: `${i}-${n}`, source: 't', type: 't', data: {} });
      if (!e.ok) throw new Error('invalid');
      ids.push(e.value.id);
      await redis.xadd(k, '*', ...toFields(e.value));
    }
    const p = buildEvent({ id: `poison-${i}`, source: 't', type: 'poison', data: {} });
    if (!p.ok) throw new Error('invalid');
    await redis.xadd(k, '*', ...toFields(p.value));
  }
  await waitFor(async () => seen.size === ids.length && (await Promise.all(keys.map((k) => redis.xlen(deadLetterKey(k))))).every((n) => n === 1), 30_000, 50, 'all processed, one dead letter per shard');
  for (const [i, k] of keys.entries()) {
    const [[, fields]] = (await redis.xrange(deadLetterKey(k), '-', '+')) as [[string, string[]]];
    expect(fields[fields.indexOf('id') + 1]).toBe(`poison-${i}`);
    expect(((await redis.xpending(k, 'g')) as [number])[0]).toBe(0);
  }
  expect(worker.readiness()).toEqual({ ready: true });
  const text = await registry.metrics();
  expect(text).toMatch(/stream_workers_events_processed_total\{outcome="ok"\} 30\n/);
  expect(text).toMatch(/stream_workers_events_processed_total\{outcome="dead_letter"\} 3\n/);
  expect(text.match(/# TYPE stream_workers_worker_held_entries gauge/g)).toHaveLength(1);
  await worker.close();
  worker = undefined;
});

test('deadLetterStream with shards > 1 is refused naming the option; a bad shard count names the range', () => {
  const base = { redisUrl: SHARED_REDIS_URL, stream: `${prefix}:x`, group: 'g', consumer: 'c' };
  expect(() => new ShardedWorker({ ...base, shards: 2, deadLetterStream: 'dead' }, async () => undefined)).toThrow(/option deadLetterStream cannot be set with shards > 1/);
  expect(() => new ShardedWorker({ ...base, shards: 0 }, async () => undefined)).toThrow(/shards must be an integer in \[1, 1024\]/);
});
