import Redis from 'ioredis';
import { createLogger, createRedis, createRegistry, idempotencyKey, parseEntry, type Logger } from '@stream-workers/core';
import { ProducerApp, type ProducerAppOptions } from '../src/app';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

const silent: Logger = createLogger({ service: 'producer-test', level: 'silent' });

interface Started {
  app: ProducerApp;
  base: string;
  redis: Redis;
  registry: ReturnType<typeof createRegistry>;
}

async function start(url: string, streams: string[], extra: Partial<ProducerAppOptions> = {}): Promise<Started> {
  const redis = createRedis({ url, role: 'command', maxBackoffMs: 100 });
  await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
  const registry = createRegistry({ processMetrics: false });
  const app = new ProducerApp({ redis, registry, logger: silent, port: 0, host: '127.0.0.1', streams, ...extra });
  const port = await app.listen();
  return { app, base: `http://127.0.0.1:${port}`, redis, registry };
}

/** Waits for `cond`, polling every 10 ms, for at most 30 s. */
const waitUntil = (cond: () => boolean, what: string) => waitFor(cond, 30_000, 10, what);

async function stop(s: Started): Promise<void> {
  await s.app.close();
  s.redis.disconnect();
}

async function post(base: string, stream: string, body: string, type = 'application/cloudevents+json', headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/v1/streams/${encodeURIComponent(stream)}/events`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, headers: res.headers };
}

describe('producer HTTP API (real listener, shared Redis with unique stream names)', () => {
  const prefix = uniquePrefix('producer-api');
  const stream = `${prefix}:events`;
  let s: Started;
  beforeAll(async () => {
    s = await start(SHARED_REDIS_URL, [stream, `${prefix}:race`, `${prefix}:batch`], { maxEventBytes: 2048, batchMax: 10, maxBatchBytes: 8192 });
  });
  afterAll(async () => {
    await deleteKeys(s.redis, prefix);
    await stop(s);
  });

  test('202 for one event (both single content types) with ids that are in the stream; correlation id carried and echoed', async () => {
    const a = await post(s.base, stream, JSON.stringify({ source: 'test', type: 't.a', data: { n: 1 } }), 'application/cloudevents+json', { 'X-Correlation-Id': 'corr-123' });
    expect(a.status).toBe(202);
    expect(a.headers.get('x-correlation-id')).toBe('corr-123');
    const b = await post(s.base, stream, JSON.stringify({ source: 'test', type: 't.b', data: null }), 'application/json; charset=utf-8', {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(b.status).toBe(202);
    expect(b.headers.get('x-correlation-id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const c = await post(s.base, stream, JSON.stringify({ source: 'test', type: 't.c', data: 1 }));
    expect(c.headers.get('x-correlation-id')).toMatch(/^[0-9a-f]{32}$/);
    const ids = [a, b, c].map((r) => (r.json.ids as string[])[0]!);
    const entries = await s.redis.xrange(stream, '-', '+');
    expect(entries.map((e) => e[0])).toEqual(ids);
    const ea = parseEntry(entries[0]![1]);
    const eb = parseEntry(entries[1]![1]);
    expect(ea.ok && ea.event.correlationid).toBe('corr-123');
    expect(eb.ok && eb.event.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect(eb.ok && eb.event.correlationid).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  test('400 naming the field: missing type, bad time, unknown attribute (no extension name); 400 for invalid JSON', async () => {
    const r = await post(s.base, stream, JSON.stringify({ source: 'test', data: 1, time: 'yesterday', Colour: 'red' }));
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const fields = (r.json.errors as Array<{ field: string }>).map((e) => e.field).sort();
    expect(fields).toEqual(['Colour', 'time', 'type']);
    const bad = await post(s.base, stream, '{"source": "x",');
    expect(bad.status).toBe(400);
    expect(bad.json.title).toBe('Invalid JSON');
  });

  test('a batch with one invalid event: 400 naming [i].field, nothing appended', async () => {
    const batchStream = `${prefix}:batch`;
    const events = Array.from({ length: 5 }, (_, i) => ({ source: 'test', type: 't', data: i }));
    (events[3] as Record<string, unknown>).type = '';
    const r = await post(s.base, batchStream, JSON.stringify(events), 'application/cloudevents-batch+json');
    expect(r.status).toBe(400);
    expect(r.json.errors).toEqual([{ field: '[3].type', message: expect.any(String) }]);
    expect(await s.redis.exists(batchStream)).toBe(0);
    const ok = await post(s.base, batchStream, JSON.stringify(events.map((e) => ({ ...e, type: 't' }))), 'application/cloudevents-batch+json');
    expect(ok.status).toBe(202);
    expect(ok.json.ids).toHaveLength(5);
    expect(await s.redis.xlen(batchStream)).toBe(5);
    const notArray = await post(s.base, batchStream, JSON.stringify(events[0]), 'application/cloudevents-batch+json');
    expect(notArray.status).toBe(400);
    // An array sent as a single-event type is refused with a pointer to the batch type.
    const arrayAsSingle = await post(s.base, batchStream, JSON.stringify(events.map((e) => ({ ...e, type: 't' }))), 'application/json');
    expect(arrayAsSingle.status).toBe(400);
    expect(arrayAsSingle.json.detail).toMatch(/application\/cloudevents-batch\+json/);
    expect(arrayAsSingle.json.errors).toEqual([{ field: '(body)', message: expect.stringContaining('application/cloudevents-batch+json') }]);
    expect(await s.redis.xlen(batchStream)).toBe(5);
  });

  test('413: single body over MAX_EVENT_BYTES, batch over BATCH_MAX, batch body over MAX_BATCH_BYTES, event in a batch over MAX_EVENT_BYTES', async () => {
    const before = await s.redis.xlen(stream);
    const big = await post(s.base, stream, JSON.stringify({ source: 'test', type: 't', data: 'x'.repeat(3000) }));
    expect(big.status).toBe(413);
    expect(big.json.limit).toBe('MAX_EVENT_BYTES');
    const many = await post(s.base, stream, JSON.stringify(Array.from({ length: 11 }, () => ({ source: 's', type: 't', data: 1 }))), 'application/cloudevents-batch+json');
    expect(many.status).toBe(413);
    expect(many.json.limit).toBe('BATCH_MAX');
    const heavy = await post(s.base, stream, JSON.stringify(Array.from({ length: 5 }, () => ({ source: 's', type: 't', data: 'y'.repeat(1900) }))), 'application/cloudevents-batch+json');
    expect(heavy.status).toBe(413);
    expect(heavy.json.limit).toBe('MAX_BATCH_BYTES');
    const oneBig = await post(s.base, stream, JSON.stringify([{ source: 's', type: 't', data: 1 }, { source: 's', type: 't', data: 'z'.repeat(2500) }]), 'application/cloudevents-batch+json');
    expect(oneBig.status).toBe(413);
    expect(oneBig.json.errors).toEqual([{ field: '[1]', message: expect.any(String) }]);
    expect(await s.redis.xlen(stream)).toBe(before);
  });

  test('415 for other content types and charsets; 404 for a stream not in STREAMS', async () => {
    expect((await post(s.base, stream, 'source=x', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post(s.base, stream, '{}', 'text/plain')).status).toBe(415);
    expect((await post(s.base, stream, '{}', 'application/json; charset=latin1')).status).toBe(415);
    const nf = await post(s.base, `${prefix}:other`, JSON.stringify({ source: 's', type: 't', data: 1 }));
    expect(nf.status).toBe(404);
    expect(nf.json.stream).toBe(`${prefix}:other`);
    expect(await s.redis.exists(`${prefix}:other`)).toBe(0);
  });

  test('100 concurrent requests with the same source+id: exactly one entry, every answer carries its id', async () => {
    const raceStream = `${prefix}:race`;
    const body = JSON.stringify({ id: 'order-42', source: 'shop', type: 'order.created', data: { total: 1 } });
    const answers = await Promise.all(Array.from({ length: 100 }, () => post(s.base, raceStream, body)));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(202));
    const ids = new Set(answers.map((a) => (a.json.ids as string[])[0]));
    expect(ids.size).toBe(1);
    expect(answers.filter((a) => a.json.duplicates === 0)).toHaveLength(1);
    const entries = await s.redis.xrange(raceStream, '-', '+');
    expect(entries).toHaveLength(1);
    expect(entries[0]![0]).toBe([...ids][0]);
    expect(await s.redis.get(idempotencyKey(raceStream, 'shop', 'order-42'))).toBe([...ids][0]);
  });

  test('metrics: published and rejected counters, request duration histogram; /openapi.json', async () => {
    const text = await (await fetch(`${s.base}/metrics`)).text();
    expect(text).toMatch(new RegExp(`stream_workers_events_published_total\\{stream="${prefix}:events"\\} 3`));
    expect(text).toMatch(/stream_workers_publish_rejected_total\{reason="unknown_stream"\} 1/);
    expect(text).toMatch(/stream_workers_publish_rejected_total\{reason="unsupported_media_type"\} 3/);
    expect(text).toMatch(/stream_workers_http_request_duration_seconds_count\{method="POST",route="\/v1\/streams\/:stream\/events",status="202"\}/);
    const spec = (await (await fetch(`${s.base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(spec.openapi).toBe('3.1.0');
    expect(Object.keys(spec.paths)).toContain('/v1/streams/{stream}/events');
  });
});

describe('producer HTTP API with a private redis-server that is stopped and restarted', () => {
  test('503 with Retry-After and /readyz 503 while Redis is down; 202 again after restart; every 202 is in the stream', async () => {
    const server = await PrivateRedis.start();
    const s = await start(server.url, ['events'], { publishTimeoutMs: 500 });
    const answered: string[] = [];
    const send = async (n: number) => {
      const r = await post(s.base, 'events', JSON.stringify({ id: `ev-${n}`, source: 'test', type: 't', data: n }));
      if (r.status === 202) answered.push(...(r.json.ids as string[]));
      return r;
    };
    try {
      expect((await send(1)).status).toBe(202);
      expect((await fetch(`${s.base}/readyz`)).status).toBe(200);
      await server.stopProcess('SIGKILL');
      const down = await send(2);
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('1');
      expect(down.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      await waitFor(async () => (await fetch(`${s.base}/readyz`)).status === 503, 30_000, 50, '/readyz 503');
      expect((await send(3)).status).toBe(503);
      await server.startProcess();
      await waitFor(async () => (await send(4)).status === 202, 30_000, 50, 'ev-4 answered 202 after the restart');
      expect((await fetch(`${s.base}/readyz`)).status).toBe(200);
      // No 2xx-answered event is missing: the restarted server had no persistence, so only ev-4 is there.
      const inStream = new Set((await s.redis.xrange('events', '-', '+')).map((e) => e[0]));
      const lost = answered.slice(1).filter((id) => !inStream.has(id));
      expect(lost).toEqual([]);
      expect(answered.length).toBeGreaterThanOrEqual(2);
    } finally {
      await stop(s);
      await server.stop();
    }
  });

  test('Redis slower than the deadline (CLIENT PAUSE): 503 with Retry-After, reason timeout; the resend with the same id answers 202 with the first entry id', async () => {
    const server = await PrivateRedis.start();
    const s = await start(server.url, ['events'], { publishTimeoutMs: 300 });
    const admin = new Redis(server.url);
    try {
      const body = JSON.stringify({ id: 'slow-1', source: 'test', type: 't', data: 1 });
      await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE');
      const slow = await post(s.base, 'events', body);
      expect(slow.status).toBe(503);
      expect(slow.headers.get('retry-after')).toBe('1');
      expect(String(slow.json.detail)).toMatch(/within 300 ms/);
      await admin.call('CLIENT', 'UNPAUSE');
      // The script sent before the deadline runs once the pause ends: the resend finds its marker.
      const again = (await waitFor(async () => {
        const r = await post(s.base, 'events', body);
        return r.status === 202 ? r : undefined;
      }, 30_000, 50, 'the resend answered 202'))!; // waitFor returns only a truthy value
      const entries = await admin.xrange('events', '-', '+');
      expect(entries).toHaveLength(1);
      expect(again.json.ids).toEqual([entries[0]![0]]);
      expect(again.json.duplicates).toBe(1);
      const text = await (await fetch(`${s.base}/metrics`)).text();
      expect(text).toMatch(/stream_workers_publish_rejected_total\{reason="timeout"\} 1/);
    } finally {
      admin.disconnect();
      await stop(s);
      await server.stop();
    }
  });

  test('every 202 is in the stream while Redis is killed under concurrent load (with AOF always)', async () => {
    const server = await PrivateRedis.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const s = await start(server.url, ['events'], { publishTimeoutMs: 500 });
    const answered: string[] = [];
    let refused = 0;
    let running = true;
    const client = async (c: number) => {
      for (let n = 0; running && n < 2000; n++) {
        const r = await post(s.base, 'events', JSON.stringify({ source: `c${c}`, type: 't', data: n })).catch(() => ({ status: 0, json: {} as Record<string, unknown> }));
        if (r.status === 202) answered.push(...(r.json.ids as string[]));
        else refused += 1;
      }
    };
    try {
      const clients = Array.from({ length: 8 }, (_, c) => client(c));
      await waitUntil(() => answered.length >= 50, '50 events answered 202');
      await server.stopProcess('SIGKILL');
      // Down until the clients see it (requests refused), then back.
      const refusedBefore = refused;
      await waitUntil(() => refused > refusedBefore, 'a request refused while Redis is down');
      await server.startProcess();
      await waitUntil(() => answered.length >= 200, '200 events answered 202');
      running = false;
      await Promise.all(clients);
      const inStream = new Set((await s.redis.xrange('events', '-', '+')).map((e) => e[0]));
      expect(answered.filter((id) => !inStream.has(id))).toEqual([]);
    } finally {
      running = false;
      await stop(s);
      await server.stop();
    }
  });
});
