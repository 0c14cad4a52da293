/**
 * Soak: RELIABILITY_SOAK_EVENTS (default 1,000,000) events appended with pipelined `XADD MAXLEN ~ 50000`
 * while 3 real worker processes consume them with the built-in simulated handler (SIM_WORK_MS=0; not
 * the recording handler, whose hashes would grow Redis by themselves). The appends follow the workers
 * (no rate assumed of this machine): whenever the group's lag passes MAXLEN / 4 the producer waits
 * until it is under MAXLEN / 8, so the trim never deletes unread entries. At every 1/60 of the events
 * the test samples Redis `used_memory`, each worker's RSS (/proc/<pid>/status VmRSS) and the group's
 * consumer count, and prints the series. Asserts the levels flatten (max of the last third ≤ 1.25 × max
 * of the middle third + a small absolute slack), the consumer count never grows, and at the end the
 * group has lag 0 and pending 0, every appended entry was delivered to the group (none trimmed unread)
 * and the workers' `stream_workers_events_processed_total{outcome="ok"}` adds up to at least the count.
 */
import Redis from 'ioredis';
import { buildEvent, toFields } from '../../services/core/src';
import { groupState, metricValue, waitDrained, workerPort } from '../../services/worker/test/support';
import { privateRedisScenario, redisUsedMemory, rssKb } from './support';
import { waitFor } from '../../test-support/process';

const EVENTS = Number(process.env.RELIABILITY_SOAK_EVENTS ?? 1_000_000);
const MAXLEN = 50_000;
const WORKERS = 3;
const BATCH = 500;
/** Samples taken while appending (one per 1/SAMPLES of the events), for the thirds compared below. */
const SAMPLES = 60;
/** Slack on top of the 1.25× rule: Redis' allocator rounding, a V8 heap resize. */
const REDIS_SLACK_BYTES = 4 * 1024 * 1024;
const RSS_SLACK_KB = 24 * 1024;

// A deadline, not a figure: 1 ms per event (a machine 30× slower than a loaded 2-core one) plus start-up and draining.
jest.setTimeout(Math.max(600_000, EVENTS + 300_000));

const scenario = privateRedisScenario();

interface Sample {
  t: number;
  appended: number;
  usedMemory: number;
  redisRssKb: number;
  rssKb: number[];
  consumers: number;
  lag: number | null;
  pending: number;
}

const thirds = (xs: number[]): [number[], number[], number[]] => {
  const n = Math.floor(xs.length / 3);
  return [xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n)];
};
const max = (xs: number[]): number => xs.reduce((a, b) => Math.max(a, b), -Infinity);

test(`soak: ${EVENTS.toLocaleString('en-US')} events, appended as fast as the workers drain, with MAXLEN ~ ${MAXLEN} through 3 real workers (simulated handler): Redis memory and worker RSS flatten, consumers stable, lag 0, pending 0, every event processed`, async () => {
  const { server, redis, fleet } = scenario;
  expect(Number.isInteger(EVENTS) && EVENTS > 0).toBe(true);
  const stream = 'soak';
  const env = { REDIS_URL: server.url, STREAM: stream, GROUP: 'workers', SIM_WORK_MS: '0', BLOCK_MS: '500', CLAIM_IDLE_MS: '30000' };
  const workers = Array.from({ length: WORKERS }, (_, i) => fleet.start({ ...env, CONSUMER: `soak-${i}` }));
  const ports = await Promise.all(workers.map((w) => workerPort(w)));
  const pids = workers.map((w) => w.proc.pid!);

  const t0 = Date.now();
  let appended = 0;
  const samples: Sample[] = [];
  const lagNow = async (): Promise<number> => (await groupState(redis, stream, 'workers').catch(() => undefined))?.lag ?? 0;
  const sample = async (): Promise<void> => {
    const g = await groupState(redis, stream, 'workers').catch(() => undefined);
    samples.push({
      t: Math.round((Date.now() - t0) / 100) / 10,
      appended,
      usedMemory: await redisUsedMemory(redis),
      redisRssKb: rssKb(server.pid ?? 0),
      rssKb: pids.map((p) => rssKb(p)),
      consumers: g?.consumers.length ?? 0,
      lag: g?.lag ?? null,
      pending: g?.pending ?? 0,
    });
  };

  // Batches of 500 pipelined XADD MAXLEN ~ 50000, as fast as the workers take them: past MAXLEN / 4
  // of lag the producer waits for them (time reported as throttledMs).
  const producer = new Redis(server.url);
  let throttledMs = 0;
  const sampleEvery = Math.max(BATCH, Math.ceil(EVENTS / SAMPLES));
  let nextSample = 0;
  try {
    let seq = 0;
    await sample();
    while (appended < EVENTS) {
      // The lag is looked at every 10 batches (5,000 events: far below the MAXLEN / 4 margin).
      if ((appended / BATCH) % 10 === 0 && (await lagNow()) > MAXLEN / 4) {
        const from = Date.now();
        await waitFor(async () => (await lagNow()) <= MAXLEN / 8, 600_000, 20, 'the workers to catch up');
        throttledMs += Date.now() - from;
      }
      const n = Math.min(BATCH, EVENTS - appended);
      const p = producer.pipeline();
      for (let i = 0; i < n; i++) {
        const r = buildEvent({ source: 'soak', type: 'soak.test', data: { seq: seq++ } });
        if (!r.ok) throw new Error('bad soak event');
        p.xadd(stream, 'MAXLEN', '~', MAXLEN, '*', ...toFields(r.value));
      }
      const res = (await p.exec()) ?? [];
      const failed = res.filter(([err]) => err).length;
      if (failed > 0) throw new Error(`${failed} XADDs failed: ${String(res.find(([err]) => err)![0])}`);
      appended += n;
      if (appended >= nextSample && appended < EVENTS) {
        nextSample += sampleEvery;
        await sample();
      }
    }
  } finally {
    producer.disconnect();
  }
  const appendMs = Date.now() - t0;
  const drained = await waitDrained(redis, stream, 'workers', 300_000);
  const runtimeMs = Date.now() - t0;
  await sample();

  const ok = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="ok"')));
  const retry = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="retry"')));
  const dead = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="dead_letter"')));
  const okSum = ok.reduce((a, b) => a + (b || 0), 0);
  // A counter child never incremented has no sample line (NaN here): 0.
  const retrySum = retry.reduce((a, b) => a + (b || 0), 0);
  const deadSum = dead.reduce((a, b) => a + (b || 0), 0);
  const info = (await redis.xinfo('STREAM', stream)) as unknown[];
  const field = (arr: unknown[], name: string): unknown => arr[arr.indexOf(name) + 1];
  const entriesAdded = Number(field(info, 'entries-added'));
  const streamLength = Number(field(info, 'length'));
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  const entriesRead = Number(field(groups[0]!, 'entries-read'));
  const dlq = await redis.xlen(`${stream}:dlq`);
  const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null).length;

  // Flattening: compare the last third of the samples taken while appending with the middle third.
  const steady = samples.filter((s) => s.appended < EVENTS);
  const [, midMem, lastMem] = thirds(steady.map((s) => s.usedMemory));
  const rssThirds = pids.map((_, i) => thirds(steady.map((s) => s.rssKb[i]!)));
  const flat = {
    redisUsedMemory: { midMax: max(midMem), lastMax: max(lastMem), limit: Math.round(1.25 * max(midMem) + REDIS_SLACK_BYTES) },
    workerRssKb: rssThirds.map(([, mid, last]) => ({ midMax: max(mid), lastMax: max(last), limit: Math.round(1.25 * max(mid) + RSS_SLACK_KB) })),
  };
  console.log(
    JSON.stringify({
      scenario: 'soak',
      events: EVENTS,
      maxlen: MAXLEN,
      workers: WORKERS,
      appendMs,
      throttledMs,
      runtimeMs,
      achievedRate: Math.round(EVENTS / (appendMs / 1000)),
      entriesAdded,
      entriesRead,
      streamLength,
      okPerWorker: ok,
      okSum,
      retry: retrySum,
      deadLetter: deadSum,
      dlq,
      final: { lag: drained.lag, pending: drained.pending, consumers: drained.consumers.length },
      flat,
      workersAlive: alive,
      samples: samples.length,
    }),
  );
  console.log(
    JSON.stringify({
      scenario: 'soak-series',
      t: samples.map((s) => s.t),
      appended: samples.map((s) => s.appended),
      usedMemoryMB: samples.map((s) => Math.round(s.usedMemory / 1024 / 102.4) / 10),
      redisRssMB: samples.map((s) => Math.round(s.redisRssKb / 102.4) / 10),
      workerRssMB: pids.map((_, i) => samples.map((s) => Math.round(s.rssKb[i]! / 102.4) / 10)),
      consumers: samples.map((s) => s.consumers),
      lag: samples.map((s) => s.lag),
      pending: samples.map((s) => s.pending),
    }),
  );

  expect(steady.length).toBeGreaterThanOrEqual(9); // enough samples for thirds
  expect(flat.redisUsedMemory.lastMax).toBeLessThanOrEqual(flat.redisUsedMemory.limit);
  for (const r of flat.workerRssKb) expect(r.lastMax).toBeLessThanOrEqual(r.limit);
  expect(max(samples.map((s) => s.consumers))).toBeLessThanOrEqual(WORKERS);
  expect(drained.consumers.length).toBe(WORKERS);
  expect(drained.lag).toBe(0);
  expect(drained.pending).toBe(0);
  // Counting: Redis appended every event, the group read every one of them (none trimmed unread), the workers acked at least as many.
  expect(entriesAdded).toBe(EVENTS);
  expect(entriesRead).toBe(EVENTS);
  expect(okSum).toBeGreaterThanOrEqual(EVENTS);
  expect(retrySum).toBe(0);
  expect(deadSum).toBe(0);
  expect(dlq).toBe(0);
  expect(streamLength).toBeLessThanOrEqual(MAXLEN + 1000);
  expect(alive).toBe(WORKERS);
});
