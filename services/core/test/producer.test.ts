import Redis from 'ioredis';
import {
  PublishLimitError,
  PublishUnavailableError,
  PublishValidationError,
  StreamProducer,
  createRedis,
  fieldsToObject,
  idempotencyKey,
  parseEntry,
} from '../src/index';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

describe('StreamProducer (shared Redis, unique keys)', () => {
  const prefix = uniquePrefix('producer-lib');
  let redis: Redis;
  let producer: StreamProducer;
  beforeAll(() => {
    redis = createRedis({ url: SHARED_REDIS_URL, role: 'command' });
    producer = new StreamProducer({ redis, maxLen: 0, idempotencyTtlS: 60 });
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  test('appends a batch as envelopes the worker can parse, filling id, time and correlation id', async () => {
    const stream = `${prefix}:a`;
    const r = await producer.publish(stream, [
      { source: 'test', type: 't.one', data: { n: 1 } },
      { source: 'test', type: 't.two', data: null, correlationid: 'c-2' },
    ], { ctx: { correlationId: 'from-ctx' } });
    expect(r.ids).toHaveLength(2);
    expect(r.duplicates).toBe(0);
    const entries = await redis.xrange(stream, '-', '+');
    expect(entries.map((e) => e[0])).toEqual(r.ids);
    const first = parseEntry(entries[0]![1]);
    expect(first.ok && first.event.data).toEqual({ n: 1 });
    expect(first.ok && first.event.correlationid).toBe('from-ctx');
    expect(fieldsToObject(entries[1]![1]).correlationid).toBe('c-2');
    // Absent attributes are filled in the stream entry itself: id, time, specversion, datacontenttype.
    for (const [, fields] of entries) {
      const f = fieldsToObject(fields);
      expect(f.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(f.specversion).toBe('1.0');
      expect(f.datacontenttype).toBe('application/json');
      expect(f.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Math.abs(Date.parse(f.time!) - Number(entries[0]![0].split('-')[0]))).toBeLessThan(60_000);
    }
    expect(new Set(entries.map(([, f]) => fieldsToObject(f).id)).size).toBe(2);
    expect(r.events.map((e) => e.id)).toEqual(entries.map(([, f]) => fieldsToObject(f).id));
    // Server-generated ids get no idempotency marker.
    expect(await redis.exists(idempotencyKey(stream, 'test', r.events[0]!.id))).toBe(0);
  });

  test('the same source+id within the TTL returns the first entry id and appends nothing', async () => {
    const stream = `${prefix}:idem`;
    const ev = { id: 'e-1', source: 'test', type: 't', data: 1 };
    const a = await producer.publish(stream, [ev]);
    const b = await producer.publish(stream, [ev, { ...ev }, { id: 'e-2', source: 'test', type: 't', data: 2 }]);
    expect(b.ids[0]).toBe(a.ids[0]);
    expect(b.ids[1]).toBe(a.ids[0]);
    expect(b.duplicates).toBe(2);
    expect(await redis.xlen(stream)).toBe(2);
    const ttl = await redis.ttl(idempotencyKey(stream, 'test', 'e-1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  test('after IDEMPOTENCY_TTL_S the marker is gone and the same source+id is appended again', async () => {
    const stream = `${prefix}:idem-ttl`;
    const short = new StreamProducer({ redis, maxLen: 0, idempotencyTtlS: 1 });
    const ev = { id: 'ttl-1', source: 'test', type: 't', data: 1 };
    const a = await short.publish(stream, [ev]);
    expect((await short.publish(stream, [ev])).ids).toEqual(a.ids);
    expect(await redis.pttl(idempotencyKey(stream, 'test', 'ttl-1'))).toBeLessThanOrEqual(1000);
    // Redis expires the marker after its TTL (1 s): waited for, with a deadline far above it.
    await waitFor(async () => (await redis.exists(idempotencyKey(stream, 'test', 'ttl-1'))) === 0, 10_000, 50, 'the idempotency marker to expire');
    const c = await short.publish(stream, [ev]);
    expect(c.duplicates).toBe(0);
    expect(c.ids[0]).not.toBe(a.ids[0]);
    expect(await redis.xlen(stream)).toBe(2);
  });

  test('a duplicate inside one new batch is appended once', async () => {
    const stream = `${prefix}:idem-in-batch`;
    const ev = { id: 'x', source: 's', type: 't', data: 1 };
    const r = await producer.publish(stream, [ev, ev]);
    expect(r.ids[0]).toBe(r.ids[1]);
    expect(r.duplicates).toBe(1);
    expect(await redis.xlen(stream)).toBe(1);
  });

  test('50 concurrent publishes of the same source+id: one entry, one id', async () => {
    const stream = `${prefix}:race`;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => producer.publish(stream, [{ id: 'same', source: 'race', type: 't', data: i }])),
    );
    expect(new Set(results.map((r) => r.ids[0])).size).toBe(1);
    expect(await redis.xlen(stream)).toBe(1);
  });

  test('an invalid event rejects the whole batch, naming the field by position', async () => {
    const stream = `${prefix}:invalid`;
    const err = await producer
      .publish(stream, [{ source: 's', type: 't', data: 1 }, { source: 's', data: 2 }, { source: 's', type: 't', data: 3 }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishValidationError);
    expect((err as PublishValidationError).errors).toEqual([{ field: '[1].type', message: 'is required' }]);
    expect(await redis.exists(stream)).toBe(0);
  });

  test('limits: event bytes and batch count', async () => {
    const small = new StreamProducer({ redis, maxEventBytes: 300, batchMax: 2 });
    const big = await small.publish(`${prefix}:lim`, [{ source: 's', type: 't', data: 'x'.repeat(400) }]).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(PublishLimitError);
    expect((big as PublishLimitError).limit).toBe('event_bytes');
    const many = await small.publish(`${prefix}:lim`, [1, 2, 3].map((n) => ({ source: 's', type: 't', data: n }))).catch((e: unknown) => e);
    expect((many as PublishLimitError).limit).toBe('batch_count');
    expect(await redis.exists(`${prefix}:lim`)).toBe(0);
  });

  test('MAXLEN ~ trims the stream approximately', async () => {
    const stream = `${prefix}:trim`;
    const trimming = new StreamProducer({ redis, maxLen: 100 });
    for (let i = 0; i < 10; i++) {
      await trimming.publish(stream, Array.from({ length: 100 }, (_, j) => ({ source: 's', type: 't', data: i * 100 + j })));
    }
    const len = await redis.xlen(stream);
    expect(len).toBeLessThan(1000);
    expect(len).toBeGreaterThanOrEqual(100);
  });
});

describe('StreamProducer with a private redis-server that stops', () => {
  test('rejects with PublishUnavailableError while Redis is down, publishes again once it is back', async () => {
    const server = await PrivateRedis.start();
    const redis = createRedis({ url: server.url, role: 'command', maxBackoffMs: 100 });
    try {
      const producer = new StreamProducer({ redis, timeoutMs: 1000 });
      await producer.publish('s', [{ source: 's', type: 't', data: 1 }]);
      await server.stopProcess('SIGKILL');
      const err = await producer.publish('s', [{ source: 's', type: 't', data: 2 }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PublishUnavailableError);
      await server.startProcess();
      const ok = await waitFor(() => producer.publish('s', [{ source: 's', type: 't', data: 3 }]).then((r) => r.ids, () => undefined), 30_000, 100, 'a publish accepted once Redis is back');
      expect(ok).toHaveLength(1);
      // A fresh server (no persistence): the script was loaded again via EVAL after NOSCRIPT.
      expect(await redis.xlen('s')).toBe(1);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
