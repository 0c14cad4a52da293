/**
 * STREAM_SHARDS in the exporter's KEDA-facing reads (shared Redis, unique keys): the external scaler and
 * /api/v1/backlog answer a sharded stream's total over its shards; a shard key alone reads that shard.
 */
import Redis from 'ioredis';
import { closeRedis, createLogger, createRedis, createRegistry, shardKeys } from '@stream-workers/core';
import { ExternalScalerServer } from '../src/external-scaler';
import { LagExporter } from '../src/app';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';

const prefix = uniquePrefix('sharded-scaler');
let admin: Redis;
let redis: ReturnType<typeof createRedis>;
let scaler: ExternalScalerServer;
let exporter: LagExporter;
let port: number;

beforeAll(async () => {
  admin = new Redis(SHARED_REDIS_URL);
  const logger = createLogger({ service: 't', level: 'silent' });
  redis = createRedis({ url: SHARED_REDIS_URL, role: 'command', logger });
  scaler = new ExternalScalerServer({ redis, logger, port: 0, host: '127.0.0.1', streams: [`${prefix}:*`], shards: 3 });
  exporter = new LagExporter({ redis, registry: createRegistry(), logger, port: 0, host: '127.0.0.1', streams: [`${prefix}:*`], discoveryIntervalMs: 0, shards: 3 });
  port = await exporter.listen();
});
afterAll(async () => {
  await scaler.close();
  await exporter.close();
  await closeRedis(redis);
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

test('outstanding and rate of a sharded stream are its total over the shards; a shard key reads itself', async () => {
  const stream = `${prefix}:pay`;
  const keys = shardKeys(stream, 3);
  // 5, 7 and 9 entries; the group on the first two shards only (the third counts whole).
  for (const [i, k] of keys.entries()) for (let n = 0; n < 5 + 2 * i; n++) await admin.xadd(k, '*', 'n', String(n));
  await admin.xgroup('CREATE', keys[0]!, 'workers', '0');
  await admin.xgroup('CREATE', keys[1]!, 'workers', '0');
  await admin.xreadgroup('GROUP', 'workers', 'c', 'COUNT', 2, 'STREAMS', keys[0]!, '>'); // 2 pending, 3 lag on shard 0
  const base = { group: 'workers', targetValue: 10, activationValue: 0, drainSeconds: 7 };
  expect(await scaler.read({ ...base, stream, metric: 'outstanding' })).toMatchObject({ value: 21, outstanding: 21 });
  expect(await scaler.read({ ...base, stream: keys[1]!, metric: 'outstanding' })).toMatchObject({ value: 7 });
  // rate, first read: no arrival rate yet; waiting = the lag over every shard (3 + 7 + 9) / drainSeconds.
  expect((await scaler.read({ ...base, stream, metric: 'rate' })).value).toBeCloseTo(19 / 7);
  const http = (await (await fetch(`http://127.0.0.1:${port}/api/v1/backlog?stream=${encodeURIComponent(stream)}&group=workers`)).json()) as Record<string, unknown>;
  expect(http).toMatchObject({ stream, group: 'workers', outstanding: 21, lag: 19, pending: 2, streamLength: 21 });
});
