/**
 * The worker runtime against the shared Redis (unique stream per test) with real worker processes
 * (`node services/worker/dist/main.js`; `make test` builds first).
 */
import Redis from 'ioredis';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor, type ServiceProcess } from '../../../test-support/process';
import { RECORDING_HANDLER, counts, fill, groupState, metricValue, startWorker, waitDrained, workerPort } from './support';

let redis: Redis;
const prefixes: string[] = [];
const procs: ServiceProcess[] = [];

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});
afterEach(async () => {
  for (const p of procs.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

function setup(name: string): { stream: string; key: string; env: Record<string, string> } {
  const prefix = uniquePrefix(`worker-${name}`);
  prefixes.push(prefix);
  const stream = `${prefix}:events`;
  const key = `${prefix}:rec`;
  return { stream, key, env: { REDIS_URL: SHARED_REDIS_URL, STREAM: stream, GROUP: 'workers', HANDLER: RECORDING_HANDLER, RECORD_KEY: key } };
}

function worker(env: Record<string, string>): ServiceProcess {
  const w = startWorker(env);
  procs.push(w);
  return w;
}

test('20,000 events through 3 worker processes: all acked, pending 0, lag 0, dead-letter empty, processed_total ≥ 20,000', async () => {
  const { stream, env } = setup('20k');
  const ws = [1, 2, 3].map((i) => worker({ ...env, HANDLER: '', SIM_WORK_MS: '0', CONSUMER: `w${i}` }));
  const ports = await Promise.all(ws.map(workerPort));
  await fill(redis, stream, 20_000);
  const state = await waitDrained(redis, stream, 'workers');
  expect(state.entriesRead).toBe(20_000);
  expect(state.pending).toBe(0);
  expect(state.lag).toBe(0);
  expect(await redis.xlen(`${stream}:dlq`)).toBe(0);
  const processed = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="ok"')));
  const total = processed.reduce((a, b) => a + b, 0);
  console.log(`20k/3 workers: processed per worker ${processed.join(', ')}; total ${total}`);
  expect(total).toBeGreaterThanOrEqual(20_000);
  expect(processed.every((n) => n > 0)).toBe(true);
});

test('a worker SIGKILLed mid-load: its entries are reclaimed after CLAIM_IDLE_MS, 0 lost, duplicates ≤ what it held', async () => {
  const { stream, key, env } = setup('kill');
  const common = { ...env, CLAIM_IDLE_MS: '1500', RECORD_WORK_MS: '2', CONCURRENCY: '50' };
  const victim = worker({ ...common, CONSUMER: 'victim' });
  const others = [worker({ ...common, CONSUMER: 'a' }), worker({ ...common, CONSUMER: 'b' })];
  const [, ...otherPorts] = await Promise.all([victim, ...others].map(workerPort));
  const ids = await fill(redis, stream, 10_000);
  await waitFor(async () => (await redis.hlen(`${key}:done`)) > 2000, 60_000, 20, '2000 events done');
  // What the victim holds at the moment of the kill (pending for it in Redis).
  victim.kill('SIGKILL');
  await victim.exited;
  const held = ((await redis.xpending(stream, 'workers', '-', '+', 100_000, 'victim')) as unknown[]).length;
  const state = await waitDrained(redis, stream, 'workers');
  const c = await counts(redis, key, ids);
  console.log(`SIGKILL: victim held ${held} entries at the kill; lost ${c.lost.length}; duplicates ${c.duplicates}`);
  const claimed = (await Promise.all(otherPorts.map((p) => metricValue(p, 'stream_workers_events_claimed_total', '')))).reduce((a, b) => a + b, 0);
  console.log(`SIGKILL: survivors reclaimed ${claimed} entries (XAUTOCLAIM)`);
  expect(c.lost).toEqual([]);
  expect(c.duplicates).toBeLessThanOrEqual(held);
  expect(held).toBeGreaterThan(0);
  expect(claimed).toBeGreaterThanOrEqual(held);
  expect(state.pending).toBe(0);
  // The victim's consumer remains (nobody else deletes a consumer here) but holds nothing.
  expect((await redis.xpending(stream, 'workers', '-', '+', 10, 'victim')) as unknown[]).toEqual([]);
});

test('SIGTERM under load: exit 0 within the grace, 0 duplicates, 0 lost, its consumer gone', async () => {
  const { stream, key, env } = setup('term');
  const common = { ...env, RECORD_WORK_MS: '3', SHUTDOWN_GRACE_MS: '10000' };
  const leaving = worker({ ...common, CONSUMER: 'leaving' });
  const staying = worker({ ...common, CONSUMER: 'staying' });
  await Promise.all([workerPort(leaving), workerPort(staying)]);
  const ids = await fill(redis, stream, 8000);
  await waitFor(async () => (await redis.hlen(`${key}:done`)) > 1500, 60_000, 20, '1500 events done');
  const t0 = Date.now();
  leaving.kill('SIGTERM');
  const exit = await leaving.exited;
  const tookMs = Date.now() - t0;
  expect(exit.code).toBe(0);
  const drained = leaving.logs.find((l) => l.msg === 'worker drained');
  expect(drained?.consumerDeleted).toBe(true);
  // Within the grace: nothing had to be aborted (how long that took is a benchmark figure, not asserted).
  expect(drained?.aborted).toBe(0);
  expect(drained?.forced).toBe(false);
  expect((await groupState(redis, stream, 'workers'))!.consumers).not.toContain('leaving');
  await waitDrained(redis, stream, 'workers');
  const c = await counts(redis, key, ids);
  console.log(`SIGTERM: exit ${exit.code} after ${tookMs} ms; lost ${c.lost.length}; duplicates ${c.duplicates}`);
  expect(c.lost).toEqual([]);
  expect(c.duplicates).toBe(0);
});

test('a handler running 3× CLAIM_IDLE_MS runs once while its worker lives; SIGKILLed instead, it is reclaimed and completed elsewhere', async () => {
  const { stream, key, env } = setup('slow');
  const common = { ...env, CLAIM_IDLE_MS: '1000', RECORD_SLOW_MS: '3000' };
  const a = worker({ ...common, CONSUMER: 'a' });
  await workerPort(a);
  const [slow1] = await fill(redis, stream, 1, () => 'slow');
  await waitFor(async () => (await redis.hget(`${key}:started`, slow1!)) === '1', 20_000, 20, 'slow event started on a');
  const b = worker({ ...common, CONSUMER: 'b' });
  await workerPort(b);
  await waitFor(async () => (await redis.hget(`${key}:done`, slow1!)) === '1', 20_000, 50, 'slow event done');
  // Acked: no longer pending, so nothing can reclaim and run it again.
  await waitFor(async () => Number(((await redis.xpending(stream, 'workers')) as [number])[0]) === 0, 20_000, 50, 'slow event acked');
  expect(await redis.hget(`${key}:started`, slow1!)).toBe('1');
  expect(await metricValue(await workerPort(b), 'stream_workers_events_claimed_total', '')).toBe(0);
  expect(await metricValue(await workerPort(a), 'stream_workers_events_claimed_total', '')).toBe(0);

  // Now the worker running it dies: c reclaims it after CLAIM_IDLE_MS and completes it.
  b.kill('SIGTERM');
  await b.exited;
  const [slow2] = await fill(redis, stream, 1, () => 'slow');
  await waitFor(async () => (await redis.hget(`${key}:started`, slow2!)) === '1', 20_000, 20, 'second slow event started on a');
  // Killed while the 3 s handler runs, before c starts (c's start-up time on a loaded machine must not decide whether a finishes first).
  a.kill('SIGKILL');
  await a.exited;
  expect(await redis.hget(`${key}:done`, slow2!)).toBeNull();
  const c = worker({ ...common, CONSUMER: 'c' });
  const cPort = await workerPort(c);
  await waitFor(async () => (await redis.hget(`${key}:done`, slow2!)) === '1', 30_000, 50, 'second slow event completed by c');
  expect(await redis.hget(`${key}:started`, slow2!)).toBe('2');
  expect(await metricValue(cPort, 'stream_workers_events_claimed_total', '')).toBe(1);
  expect((await redis.xpending(stream, 'workers', '-', '+', 10)) as unknown[]).toEqual([]);
});

test('10 poison events among 10,000 → exactly 10 dead letters with dlq_deliveries = MAX_DELIVERIES; fail-twice-then-succeed is not dead-lettered; malformed goes on first delivery', async () => {
  const { stream, key, env } = setup('poison');
  const common = { ...env, MAX_DELIVERIES: '4', RETRY_DELAY_MS: '20' };
  await Promise.all([worker({ ...common, CONSUMER: 'a' }), worker({ ...common, CONSUMER: 'b' })].map(workerPort));
  const typeOf = (i: number) => (i % 1000 === 500 ? 'poison' : i % 1000 === 700 ? 'flaky' : 'test');
  const ids = await fill(redis, stream, 10_000, typeOf);
  await redis.xadd(stream, '*', 'not', 'an-event');
  await redis.xadd(stream, '*', 'specversion', '1.0', 'id', 'x', 'source', 's', 'type', 't', 'data', '{broken');
  await waitDrained(redis, stream, 'workers');
  const dlq = (await redis.xrange(`${stream}:dlq`, '-', '+')).map(([, f]) => Object.fromEntries(f.reduce<string[][]>((a, v, i) => (i % 2 ? a[a.length - 1]!.push(v) : a.push([v]), a), [])));
  const poison = dlq.filter((e) => e.type === 'poison');
  const malformed = dlq.filter((e) => e.dlq_reason === 'malformed');
  expect(dlq).toHaveLength(12);
  expect(poison).toHaveLength(10);
  expect(poison.every((e) => e.dlq_reason === 'max_deliveries' && e.dlq_deliveries === '4' && e.dlq_error === 'poison' && e.dlq_origin_id && e.dlq_consumer && e.dlq_time)).toBe(true);
  expect(dlq.filter((e) => e.type === 'flaky')).toHaveLength(0);
  expect(malformed).toHaveLength(2);
  expect(malformed.every((e) => e.dlq_deliveries === '1')).toBe(true);
  const c = await counts(redis, key, ids.filter((_, i) => typeOf(i) !== 'poison'));
  expect(c.lost).toEqual([]);
  const flakyIds = ids.filter((_, i) => typeOf(i) === 'flaky');
  expect(flakyIds.every((id) => c.started[id] === '3')).toBe(true);
});

test('group deleted while running: recreated, processing resumes, bounded log lines', async () => {
  const { stream, key, env } = setup('nogroup');
  const w = worker({ ...env, CONSUMER: 'a', BLOCK_MS: '200' });
  await workerPort(w);
  await fill(redis, stream, 500);
  await waitDrained(redis, stream, 'workers');
  await redis.xgroup('DESTROY', stream, 'workers');
  // The worker meets NOGROUP (it logs it once) before new events arrive.
  await waitFor(async () => w.logs.some((l) => l.msg === 'stream or consumer group missing; recreating it'), 20_000, 20, 'NOGROUP seen');
  const later = await fill(redis, stream, 500);
  await waitFor(async () => (await groupState(redis, stream, 'workers').catch(() => undefined)) !== undefined, 20_000, 50, 'group recreated');
  await waitDrained(redis, stream, 'workers');
  const c = await counts(redis, key, later);
  expect(c.lost).toEqual([]);
  const warnLines = w.logs.filter((l) => l.level === 'warn' || l.level === 'error');
  console.log(`group deleted: ${warnLines.length} warn/error lines: ${warnLines.map((l) => l.msg).join(' | ')}`);
  expect(warnLines.length).toBeLessThanOrEqual(3);
  expect(w.logs.some((l) => l.msg === 'consumer group created')).toBe(true);
});

test.each([
  ['BATCH_SIZE', 'abc', /BATCH_SIZE="abc" is invalid: expected an integer from 1 to 10000/],
  ['REDIS_URL', 'nope', /REDIS_URL="nope" is invalid: expected a URL redis:\/\//],
])('%s=%s: exit non-zero with a message naming the variable', async (name, value, re) => {
  const w = worker({ [name]: value });
  const exit = await w.exited;
  expect(exit.code).toBe(2);
  expect(w.stderr()).toMatch(re);
});
