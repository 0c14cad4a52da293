/**
 * The worker's Redis building blocks in core (streams/claim.ts, streams/consumer.ts) against the
 * shared Redis, one unique stream per test.
 */
import Redis from 'ioredis';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { StreamConsumer, claimIdle, createGroup, deleteConsumerIfIdle, handBack, keepFresh, claimForRetry } from '../../core/src';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { fill } from './support';

let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

async function setup(n: number): Promise<{ stream: string; ids: string[] }> {
  const prefix = uniquePrefix('claim');
  prefixes.push(prefix);
  const stream = `${prefix}:events`;
  await fill(redis, stream, n);
  expect(await createGroup(redis, stream, 'g', '0')).toBe(true);
  expect(await createGroup(redis, stream, 'g', '0')).toBe(false);
  const reply = (await redis.xreadgroup('GROUP', 'g', 'a', 'COUNT', n, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  return { stream, ids: reply[0]![1].map(([id]) => id) };
}

async function owners(stream: string): Promise<Record<string, { owner: string; idle: number; count: number }>> {
  const rows = (await redis.xpending(stream, 'g', '-', '+', 1000)) as [string, string, number, number][];
  return Object.fromEntries(rows.map(([id, owner, idle, count]) => [id, { owner, idle: Number(idle), count: Number(count) }]));
}

test('keepFresh resets the idle time of entries still held, never takes back one another consumer reclaimed, counts no delivery', async () => {
  const { stream, ids } = await setup(3);
  // Idle 10 minutes, set by Redis itself (XCLAIM … IDLE, no delivery counted) instead of waiting.
  await redis.xclaim(stream, 'g', 'a', 0, ...ids, 'IDLE', 600_000, 'JUSTID');
  // b reclaims the first entry (as XAUTOCLAIM would after CLAIM_IDLE_MS).
  await redis.xclaim(stream, 'g', 'b', 0, ids[0]!, 'JUSTID');
  await redis.xack(stream, 'g', ids[1]!);
  const lost = await keepFresh(redis, stream, 'g', 'a', ids);
  expect(lost.sort()).toEqual([ids[0], ids[1]].sort());
  const o = await owners(stream);
  expect(o[ids[0]!]!.owner).toBe('b');
  expect(o[ids[2]!]!.owner).toBe('a');
  expect(o[ids[2]!]!.idle).toBeLessThan(600_000); // reset by keepFresh
  expect(o[ids[2]!]!.count).toBe(1);
});

test('claimForRetry counts a delivery and returns the fields; claimIdle takes only entries idle ≥ min-idle, with their delivery counts', async () => {
  const { stream, ids } = await setup(2);
  const { claimed, lost } = await claimForRetry(redis, stream, 'g', 'a', ids);
  expect(lost).toEqual([]);
  expect(claimed.map(([id]) => id)).toEqual(ids);
  expect(claimed[0]![1]).toContain('specversion');
  expect((await owners(stream))[ids[0]!]!.count).toBe(2);
  // Just claimed (idle ~0): a 10 s min-idle claims nothing.
  expect((await claimIdle(redis, stream, 'g', 'b', 10_000, 10)).entries).toEqual([]);
  // Idle 60 s, set by Redis (XCLAIM … IDLE JUSTID counts no delivery) instead of waiting.
  await redis.xclaim(stream, 'g', 'a', 0, ...ids, 'IDLE', 60_000, 'JUSTID');
  const r = await claimIdle(redis, stream, 'g', 'b', 50_000, 10);
  expect(r.entries.map(([id]) => id)).toEqual(ids);
  expect(r.deliveries.get(ids[0]!)).toBe(3);
  expect((await owners(stream))[ids[1]!]!.owner).toBe('b');
});

test('handBack marks held entries idle for CLAIM_IDLE_MS so they are reclaimable at once; deleteConsumerIfIdle keeps a consumer that still holds entries', async () => {
  const { stream, ids } = await setup(2);
  expect(await handBack(redis, stream, 'g', 'a', ids, 60_000)).toEqual([]);
  const o = await owners(stream);
  expect(o[ids[0]!]!.idle).toBeGreaterThanOrEqual(60_000);
  expect(o[ids[0]!]!.count).toBe(1);
  expect(await deleteConsumerIfIdle(redis, stream, 'g', 'a')).toBe(2);
  expect(((await redis.xinfo('CONSUMERS', stream, 'g')) as unknown[][]).map((c) => c[1])).toContain('a');
  // Another worker's XAUTOCLAIM with min-idle 60 s takes them now.
  expect((await claimIdle(redis, stream, 'g', 'b', 60_000, 10)).entries).toHaveLength(2);
  expect(await deleteConsumerIfIdle(redis, stream, 'g', 'a')).toBe(0);
  expect(((await redis.xinfo('CONSUMERS', stream, 'g')) as unknown[][]).map((c) => c[1])).not.toContain('a');
});

test('StreamConsumer reads its own pending list, then new entries; a read on a server that never answers (a local TCP server standing in for a dead link) fails within BLOCK + margin', async () => {
  const { stream, ids } = await setup(3);
  const c = new StreamConsumer({ url: SHARED_REDIS_URL, stream, group: 'g', consumer: 'a', blockMs: 50, name: 'claim-test' });
  try {
    const pending = await c.read(10, '0');
    expect(pending.map(([id]) => id)).toEqual(ids);
    expect(pending[0]![1]).toEqual(expect.arrayContaining(['specversion', '1.0', 'type', 'test']));
    expect(await c.read(10)).toEqual([]);
  } finally {
    c.close();
  }
  // A server that accepts and never replies.
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as AddressInfo).port;
  const d = new StreamConsumer({ url: `redis://127.0.0.1:${port}`, stream, group: 'g', consumer: 'a', blockMs: 50, wedgeMarginMs: 200, connectTimeoutMs: 300 });
  try {
    // The connection set-up itself gets no answer: the read fails by the connect timeout.
    await expect(d.read(10)).rejects.toThrow(/did not answer the connection set-up within 300 ms/);
  } finally {
    d.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});
