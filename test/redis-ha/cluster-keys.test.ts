/**
 * Key naming in a real 3-primary Redis Cluster (private redis-server processes): every multi-key step
 * stays within one slot with the cluster naming of keys.ts, and fails with CROSSSLOT with one server's
 * names (why the naming exists); the exporter's discovery and scrape find every stream on every
 * primary and report each once.
 */
import { Cluster } from 'ioredis';
import { Registry } from 'prom-client';
import {
  StreamProducer, createLogger, deadLetterKey, discoverStreams, idempotencyKey, keySlot, moveToDeadLetter, readShardedBacklog, shardKeys,
  SINGLE_SERVER, type KeyMode,
} from '@stream-workers/core';
import { LagCollector } from '../../services/lag-exporter/src/collector';
import { LocalRedisCluster } from '../../test-support/redis-cluster';

const CLUSTER: KeyMode = { cluster: true };
let cluster: LocalRedisCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await LocalRedisCluster.start({ primaries: 3 });
  client = new Cluster(cluster.nodesEnv.split(',').map((hp) => ({ host: '127.0.0.1', port: Number(hp.split(':')[1]) })), { redisOptions: { maxRetriesPerRequest: 3 } });
  client.on('error', () => undefined);
}, 90_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

/** Six stream names on six different slots spread over the primaries. */
async function streamsOnEveryPrimary(prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  const owners = new Map<number, number>();
  for (let i = 0; out.length < n; i++) {
    const name = `${prefix}-${i}`;
    const owner = await cluster.ownerOf(keySlot(name));
    if ((owners.get(owner) ?? 0) >= Math.ceil(n / 3)) continue;
    owners.set(owner, (owners.get(owner) ?? 0) + 1);
    out.push(name);
  }
  return out;
}

test('cluster naming: the dead-letter MULTI and the idempotent publish script work across the cluster; one server\'s names fail with CROSSSLOT', async () => {
  const stream = 'orders-ck';
  expect(deadLetterKey(stream, CLUSTER)).toBe('{orders-ck}:dlq');
  expect(keySlot(deadLetterKey(stream, CLUSTER))).toBe(keySlot(stream));
  expect(keySlot(idempotencyKey(stream, 'shop', 'e-1', CLUSTER))).toBe(keySlot(stream));
  await client.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  const id = await client.xadd(stream, '*', 'k', 'v');
  await client.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', stream, '>');
  await moveToDeadLetter(client, stream, 'g', deadLetterKey(stream, CLUSTER), [{ entryId: id!, fields: ['k', 'v'], reason: 'malformed', error: 'x', deliveries: 1, consumer: 'c' }]);
  expect(await client.xlen(deadLetterKey(stream, CLUSTER))).toBe(1);
  expect(((await client.xpending(stream, 'g')) as [number])[0]).toBe(0);

  // One server's names put the dead-letter stream in another slot.
  expect(keySlot(deadLetterKey(stream))).not.toBe(keySlot(stream));
  const id2 = await client.xadd(stream, '*', 'k', 'v2');
  await client.xreadgroup('GROUP', 'g', 'c', 'COUNT', 10, 'STREAMS', stream, '>');
  await expect(moveToDeadLetter(client, stream, 'g', deadLetterKey(stream), [{ entryId: id2!, fields: ['k', 'v2'], reason: 'malformed', error: 'x', deliveries: 1, consumer: 'c' }]))
    .rejects.toThrow(/CROSSSLOT|same slot/i);

  const producer = new StreamProducer({ redis: client, keyMode: CLUSTER });
  const first = await producer.publish(stream, [{ id: 'e-1', source: 'shop', type: 't', data: {} }]);
  const again = await producer.publish(stream, [{ id: 'e-1', source: 'shop', type: 't', data: {} }]);
  expect(again.ids).toEqual(first.ids);
  expect(again.duplicates).toBe(1);
  expect(await client.get(idempotencyKey(stream, 'shop', 'e-1', CLUSTER))).toBe(first.ids[0]);
  const plain = new StreamProducer({ redis: client, keyMode: SINGLE_SERVER });
  await expect(plain.publish(stream, [{ id: 'e-2', source: 'shop', type: 't', data: {} }])).rejects.toThrow(/CROSSSLOT|same slot|different slots/i);
  // Without keyMode a producer on a Cluster client names its markers for the cluster.
  const byDefault = new StreamProducer({ redis: client });
  expect((await byDefault.publish(stream, [{ id: 'e-3', source: 'shop', type: 't', data: {} }])).ids).toHaveLength(1);
  expect(await client.exists(idempotencyKey(stream, 'shop', 'e-3', CLUSTER))).toBe(1);

  // A hash-tagged stream keeps its names: they inherit its tag.
  expect(deadLetterKey('{orders}x', CLUSTER)).toBe('{orders}x:dlq');
  expect(deadLetterKey('orders{3}', CLUSTER)).toBe('orders{3}:dlq');
});

test('a sharded stream spreads over the primaries; a sharded producer appends per shard; its backlog total is read shard by shard on their nodes', async () => {
  const keys = shardKeys('pay', 6);
  const owners = new Set(await Promise.all(keys.map((k) => cluster.ownerOf(keySlot(k)))));
  expect(owners.size).toBeGreaterThan(1);
  const producer = new StreamProducer({ redis: client, keyMode: CLUSTER, shards: 6 });
  const events = Array.from({ length: 60 }, (_, i) => ({ id: `p-${i}`, source: 'pay', type: 't', subject: `acct-${i % 12}`, data: { i } }));
  const r = await producer.publish('pay', events);
  expect(r.ids).toHaveLength(60);
  const lengths = await Promise.all(keys.map((k) => client.xlen(k)));
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(60);
  expect(lengths.filter((l) => l > 0).length).toBeGreaterThan(1);
  for (const k of keys) await client.xgroup('CREATE', k, 'g', '0');
  const total = await readShardedBacklog(client, 'pay', 'g', 6);
  expect(total).toMatchObject({ status: 'ok', backlog: { stream: 'pay', outstanding: 60, lag: 60, streamLength: 60 } });
});

test('exporter on a cluster: discovery scans every primary, the scrape reads each stream on its node and reports it once, with the sharded totals', async () => {
  const names = await streamsOnEveryPrimary('disc', 6);
  for (const n of names) {
    await client.xadd(n, '*', 'a', '1');
    await client.xgroup('CREATE', n, 'workers', '0');
  }
  const found = await discoverStreams(client, ['disc-*']);
  expect(found).toEqual([...names].sort());

  const registry = new Registry();
  const collector = new LagCollector({ redis: client, registry, logger: createLogger({ service: 't', level: 'silent' }), streams: ['disc-*', 'pay*'], discoveryIntervalMs: 0, shards: 6 });
  try {
    const text = await registry.metrics();
    expect(text).toContain('stream_workers_exporter_up 1');
    for (const n of names) expect(text.match(new RegExp(`stream_workers_group_outstanding\\{stream="${n}",group="workers"\\} 1\\n`, 'g'))).toHaveLength(1);
    for (const k of shardKeys('pay', 6)) expect(text.match(new RegExp(`stream_workers_stream_length\\{stream="${k.replace(/[{}]/g, '\\$&')}"\\}`, 'g'))).toHaveLength(1);
    expect(text).toContain('stream_workers_sharded_group_outstanding{stream="pay",group="g"} 60');
    expect(text).toContain('stream_workers_sharded_stream_shards{stream="pay"} 6');
  } finally {
    collector.close();
  }
});
