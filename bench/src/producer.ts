/**
 * Producer benchmarks (issue 4), on the harness's private redis-server in one run:
 *  - library: `StreamProducer.publish` with batches of 100 (one Lua script per batch, 8 batches in
 *    flight on one connection) vs the seed articles' loop of one awaited XADD per event, same
 *    envelope building, same Redis, same run: `producer_lib_vs_single_xadd` (goal ≥ 4);
 *  - HTTP: events/s into the producer process (`node services/producer/dist/main.js`, built by
 *    `npm run build`) with `application/cloudevents-batch+json` batches of 100, 8 requests in flight.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { StreamProducer, buildEvent, toFields } from '@stream-workers/core';
import type { Benchmark, BenchContext } from './harness';

const REPO_ROOT = join(__dirname, '..', '..');
const PRODUCER_MAIN = join(REPO_ROOT, 'services', 'producer', 'dist', 'main.js');
/** Events per library run (BENCH_PRODUCER_EVENTS overrides, for quick runs). */
const EVENTS = Number(process.env.BENCH_PRODUCER_EVENTS ?? 100_000);
const BATCH = 100;
const IN_FLIGHT = 8;

const event = (i: number) => ({ source: 'bench', type: 'bench.event', data: { i, payload: 'x'.repeat(64) } });
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Runs `work` for `total` items split into batches, with `inFlight` batches at once; returns items/s. */
async function pooled(total: number, batch: number, inFlight: number, work: (from: number, n: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        const from = next;
        const n = Math.min(batch, total - from);
        next += n;
        await work(from, n);
      }
    }),
  );
  return (total / (now() - t0)) * 1000;
}

async function singleXadd(redis: Redis, stream: string, n: number): Promise<number> {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const r = buildEvent(event(i));
    if (!r.ok) throw new Error('invalid bench event');
    await redis.xadd(stream, 'MAXLEN', '~', '1000000', '*', ...toFields(r.value));
  }
  return (n / (now() - t0)) * 1000;
}

async function library(producer: StreamProducer, stream: string, n: number): Promise<number> {
  return pooled(n, BATCH, IN_FLIGHT, async (from, count) => {
    await producer.publish(stream, Array.from({ length: count }, (_, j) => event(from + j)));
  });
}

export const producerLibrary: Benchmark = {
  name: 'producer',
  description: `publishing library (batches of ${BATCH}, ${IN_FLIGHT} in flight) vs one awaited XADD per event; HTTP ingest with batches of ${BATCH}`,
  async run(ctx: BenchContext) {
    const redis = new Redis(ctx.redisUrl);
    try {
      const producer = new StreamProducer({ redis, maxLen: 1_000_000, timeoutMs: 30_000 });
      // Warm-up (script cache, JIT); then interleave short slices of both methods, so that the
      // machine's noise (other processes on 2 cores) hits both alike; rates are totals over all slices.
      await library(producer, 'bench:producer:warm', 2000);
      await singleXadd(redis, 'bench:producer:warm', 2000);
      const slices = 10;
      const libSlice = Math.max(1000, Math.floor(EVENTS / slices));
      const singleSlice = Math.max(200, Math.floor(libSlice / 5));
      let singleMs = 0;
      let libMs = 0;
      for (let i = 0; i < slices; i++) {
        const a = now();
        await singleXadd(redis, 'bench:producer:single', singleSlice);
        const b = now();
        await library(producer, 'bench:producer:lib', libSlice);
        const c = now();
        singleMs += b - a;
        libMs += c - b;
        if ((i + 1) % 5 === 0) ctx.progress(`${i + 1}/${slices} slices: single XADD ${Math.round(((i + 1) * singleSlice * 1000) / singleMs)} events/s, library ${Math.round(((i + 1) * libSlice * 1000) / libMs)} events/s`);
      }
      const bestSingle = (slices * singleSlice * 1000) / singleMs;
      const bestLib = (slices * libSlice * 1000) / libMs;
      const [singleLen, libLen] = await Promise.all([redis.xlen('bench:producer:single'), redis.xlen('bench:producer:lib')]);
      if (singleLen !== slices * singleSlice || libLen !== slices * libSlice) throw new Error(`appended ${singleLen}/${libLen} entries, expected ${slices * singleSlice}/${slices * libSlice}`);
      await redis.del('bench:producer:single', 'bench:producer:lib', 'bench:producer:warm');
      ctx.figure('producer_single_xadd_events_per_s', Math.round(bestSingle), 'events/s');
      ctx.figure('producer_lib_events_per_s', Math.round(bestLib), 'events/s');
      ctx.goal('producer_lib_vs_single_xadd', bestLib / bestSingle, 'min', 4, '×');

      const http = await httpIngest(ctx);
      ctx.figure('producer_http_events_per_s', Math.round(http.rate), 'events/s');
      ctx.figure('producer_http_vs_lib', http.rate / bestLib, '×');
      const xlen = await redis.xlen('bench:producer:http');
      if (xlen !== http.events) throw new Error(`HTTP run: ${http.events} events answered 202 but XLEN is ${xlen}`);
    } finally {
      redis.disconnect();
    }
  },
};

/** Starts the producer process, sends `EVENTS / 2` events in batches of 100, stops it. */
async function httpIngest(ctx: BenchContext): Promise<{ rate: number; events: number }> {
  const proc = spawn(process.execPath, [PRODUCER_MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', REDIS_URL: ctx.redisUrl, STREAMS: 'bench:producer:http' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    // PORT=0: the bound port is in the start line.
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"producer started"')) resolve(Number((JSON.parse(line) as { port: number }).port));
        }
      });
      void exited.then(() => reject(new Error(`producer exited before it started: ${err}`)));
      setTimeout(() => reject(new Error('producer did not start within 20 s')), 20_000).unref();
    });
    const url = `http://127.0.0.1:${port}/v1/streams/bench:producer:http/events`;
    const send = async (from: number, n: number) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(Array.from({ length: n }, (_, j) => event(from + j))),
      });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    };
    await pooled(2000, BATCH, IN_FLIGHT, (f, n) => send(f, n)); // warm-up
    const total = Math.max(2000, Math.floor(EVENTS / 2));
    const rate = await pooled(total, BATCH, IN_FLIGHT, (f, n) => send(2000 + f, n));
    ctx.progress(`HTTP: ${Math.round(rate)} events/s (${total} events in batches of ${BATCH}, ${IN_FLIGHT} requests in flight)`);
    return { rate, events: total + 2000 };
  } finally {
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  }
}
