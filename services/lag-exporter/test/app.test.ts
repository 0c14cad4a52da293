/**
 * The exporter over real HTTP: backlog ages from real-clock ids (must show 2), the KEDA JSON endpoint,
 * and what a scrape answers when Redis is unreachable or too slow (a private redis-server that the
 * test kills or pauses with SIGSTOP, never the shared one).
 */
import Redis from 'ioredis';
import { closeRedis, createRedis, createRegistry } from '@stream-workers/core';
import { LagExporter, globToRegExp } from '../src/app';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { captureLogger, parseMetrics, samples, value } from './support/metrics';

async function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

describe('backlog ages from explicit-timestamp ids (shared Redis, real clock)', () => {
  const prefix = uniquePrefix('lagx-age');
  const stream = `${prefix}:events`;
  let admin: Redis;
  let redis: Redis;
  let exporter: LagExporter;
  let port: number;

  beforeAll(async () => {
    admin = new Redis(SHARED_REDIS_URL);
    const { logger } = captureLogger();
    redis = createRedis({ url: SHARED_REDIS_URL, role: 'command', logger });
    exporter = new LagExporter({ redis, registry: createRegistry(), logger, port: 0, host: '127.0.0.1', streams: [`${prefix}:*`], discoveryIntervalMs: 0 });
    port = await exporter.listen();
  });
  afterAll(async () => {
    await exporter.close();
    await closeRedis(redis);
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  test('oldest undelivered entry 30 s old → group_lag_seconds ≈ 30; pending entry 45 s old → group_oldest_pending_seconds ≈ 45', async () => {
    const t = Date.now();
    // 45 s and 40 s old: delivered to a consumer, not acked (pending). 30, 20, 10 s old: undelivered.
    for (const age of [45, 40, 30, 20, 10]) await admin.xadd(stream, `${t - age * 1000}-0`, 'age', String(age));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    await admin.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 2, 'STREAMS', stream, '>');

    const before = Date.now();
    const res = await get(port, '/metrics');
    const elapsed = (Date.now() - t) / 1000; // how much older everything got since the ids were made
    expect(res.status).toBe(200);
    const all = parseMetrics(res.body);
    const l = { stream, group: 'workers' };
    const lagSeconds = value(all, 'stream_workers_group_lag_seconds', l)!;
    const oldestPending = value(all, 'stream_workers_group_oldest_pending_seconds', l)!;
    console.log(`group_lag_seconds=${lagSeconds} group_oldest_pending_seconds=${oldestPending} (ids made ${elapsed.toFixed(3)} s before the scrape ended)`);
    // Ages are measured from the ids: at least 30 / 45, and no more than the time this test took on top.
    expect(lagSeconds).toBeGreaterThanOrEqual(30);
    expect(lagSeconds).toBeLessThanOrEqual(30 + elapsed);
    expect(oldestPending).toBeGreaterThanOrEqual(45);
    expect(oldestPending).toBeLessThanOrEqual(45 + elapsed);
    expect(value(all, 'stream_workers_group_lag', l)).toBe(3);
    expect(value(all, 'stream_workers_group_pending', l)).toBe(2);
    expect(value(all, 'stream_workers_group_outstanding', l)).toBe(5);
    expect(value(all, 'stream_workers_group_lag_estimated', l)).toBe(0);
    expect(value(all, 'stream_workers_exporter_up')).toBe(1);
    expect(value(all, 'stream_workers_exporter_scrape_duration_seconds')!).toBeLessThanOrEqual((Date.now() - before) / 1000);

    // The KEDA endpoint reads the same group.
    const api = await get(port, `/api/v1/backlog?stream=${encodeURIComponent(stream)}&group=workers`);
    expect(api.status).toBe(200);
    const body = JSON.parse(api.body) as Record<string, unknown>;
    expect(body).toMatchObject({ stream, group: 'workers', outstanding: 5, lag: 3, pending: 2, consumers: 1, lagEstimated: false, streamLength: 5 });
    expect(body.lagSeconds as number).toBeGreaterThanOrEqual(30);
    expect(body.oldestPendingSeconds as number).toBeGreaterThanOrEqual(45);
  });

  test('/api/v1/backlog: 400 problem+json without stream or group, 404 for unknown stream, unknown group, or a stream outside STREAMS', async () => {
    await admin.xadd(stream, '*', 'n', '1');
    await admin.xgroup('CREATE', stream, 'other', '$').catch(() => undefined);
    for (const q of ['', `?stream=${encodeURIComponent(stream)}`, '?group=workers', `?stream=&group=workers`, `?stream=a&stream=b&group=workers`]) {
      const r = await get(port, `/api/v1/backlog${q}`);
      expect({ q, status: r.status, type: r.type.split(';')[0] }).toEqual({ q, status: 400, type: 'application/problem+json' });
    }
    const noStream = await get(port, `/api/v1/backlog?stream=${encodeURIComponent(`${prefix}:missing`)}&group=workers`);
    expect(noStream.status).toBe(404);
    expect(noStream.type).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(noStream.body)).toMatchObject({ status: 404, title: 'Not Found' });
    const noGroup = await get(port, `/api/v1/backlog?stream=${encodeURIComponent(stream)}&group=nobody`);
    expect(noGroup.status).toBe(404);
    expect(JSON.parse(noGroup.body).detail).toMatch(/no consumer group "nobody"/);
    const outside = await get(port, `/api/v1/backlog?stream=not-mine&group=workers`);
    expect(outside.status).toBe(404);
    expect(JSON.parse(outside.body).detail).toMatch(/not exported/);
  });
});

describe('Redis unreachable or slow (private redis-server)', () => {
  let server: PrivateRedis;
  let admin: Redis;

  beforeEach(async () => {
    server = await PrivateRedis.start();
    admin = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on('error', () => undefined);
    for (let i = 0; i < 5; i++) await admin.xadd('events', '*', 'n', String(i));
    await admin.xgroup('CREATE', 'events', 'workers', '0');
  });
  afterEach(async () => {
    if (admin.status !== 'end') admin.disconnect();
    if (server.pid) {
      try {
        process.kill(server.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    await server.stop();
  });

  async function start(timeoutMs: number) {
    const { logger, lines } = captureLogger();
    const redis = createRedis({ url: server.url, role: 'command', logger, maxBackoffMs: 100, connectTimeoutMs: 500 });
    const exporter = new LagExporter({ redis, registry: createRegistry(), logger, port: 0, host: '127.0.0.1', streams: ['*'], scrapeTimeoutMs: timeoutMs, discoveryIntervalMs: 0 });
    const port = await exporter.listen();
    return { redis, exporter, port, lines };
  }

  test('Redis killed: /metrics answers 200 with exporter_up 0 and no stream/group series; /readyz 503; back after restart; one log line per change', async () => {
    const { redis, exporter, port, lines } = await start(2000);
    try {
      let all = parseMetrics((await get(port, '/metrics')).body);
      expect(value(all, 'stream_workers_exporter_up')).toBe(1);
      expect(value(all, 'stream_workers_group_outstanding', { stream: 'events', group: 'workers' })).toBe(5);

      await server.stopProcess('SIGKILL');
      for (let i = 0; i < 3; i++) {
        const res = await get(port, '/metrics');
        expect(res.status).toBe(200);
        all = parseMetrics(res.body);
        expect(value(all, 'stream_workers_exporter_up')).toBe(0);
        expect(samples(all, 'stream_workers_stream_length')).toEqual([]);
        expect(all.filter((s) => s.name.startsWith('stream_workers_group_'))).toEqual([]);
      }
      expect((await get(port, '/readyz')).status).toBe(503);
      expect((await get(port, '/api/v1/backlog?stream=events&group=workers')).status).toBe(503);
      expect(lines.filter((l) => /scrape failed/.test(String(l.msg)))).toHaveLength(1);

      await server.startProcess(); // empty: no persistence in the private server
      const deadline = Date.now() + 20_000;
      let up = 0;
      while (Date.now() < deadline && up !== 1) {
        up = value(parseMetrics((await get(port, '/metrics')).body), 'stream_workers_exporter_up') ?? 0;
        if (up !== 1) await new Promise((r) => setTimeout(r, 100));
      }
      expect(up).toBe(1);
      expect(lines.filter((l) => /scrape succeeded again/.test(String(l.msg)))).toHaveLength(1);
    } finally {
      await exporter.close();
      await closeRedis(redis);
    }
  });

  test('Redis stalled (SIGSTOP) past SCRAPE_TIMEOUT_MS: the scrape answers 200 with exporter_up 0 within the deadline, no group series', async () => {
    const { redis, exporter, port } = await start(300);
    try {
      expect(value(parseMetrics((await get(port, '/metrics')).body), 'stream_workers_exporter_up')).toBe(1);
      process.kill(server.pid!, 'SIGSTOP');
      const res = await get(port, '/metrics');
      expect(res.status).toBe(200);
      const all = parseMetrics(res.body);
      expect(value(all, 'stream_workers_exporter_up')).toBe(0);
      expect(all.filter((s) => s.name.startsWith('stream_workers_group_') || s.name === 'stream_workers_stream_length')).toEqual([]);
      expect(exporter.collector.last).toMatchObject({ ok: false, error: expect.stringMatching(/timed out after 300 ms/) });
      process.kill(server.pid!, 'SIGCONT');
    } finally {
      await exporter.close();
      await closeRedis(redis);
    }
  });
});

test('globToRegExp follows Redis glob rules', () => {
  expect(globToRegExp('*').test('anything:at:all')).toBe(true);
  expect(globToRegExp('orders:*').test('orders:eu')).toBe(true);
  expect(globToRegExp('orders:*').test('xorders:eu')).toBe(false);
  expect(globToRegExp('h?llo').test('hallo')).toBe(true);
  expect(globToRegExp('h[ae]llo').test('hillo')).toBe(false);
  expect(globToRegExp('h[^e]llo').test('hallo')).toBe(true);
  expect(globToRegExp('a\\*b').test('a*b')).toBe(true);
  expect(globToRegExp('a\\*b').test('axb')).toBe(false);
  expect(globToRegExp('events').test('events')).toBe(true);
  expect(globToRegExp('a.b').test('axb')).toBe(false);
});
