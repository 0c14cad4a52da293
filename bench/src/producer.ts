/**
 * Producer benchmarks (issue 4), on the harness's private redis-server in one run:
 *  - library: `StreamProducer.publish` with batches of 100 (one Lua script per batch, 8 batches in
 *    flight on one connection) vs the seed articles' loop of one awaited XADD per event, same
 *    envelope building, same Redis, same run: `producer_lib_vs_single_xadd` (goal ≥ 4);
 *  - HTTP: events/s into the producer process (`node services/producer/dist/main.js`, built by
 *    `npm run build`) with `application/cloudevents-batch+json` batches of 100, 8 requests in flight,
 *    with AUTH_MODE=none and AUTH_MODE=token (two processes, reps alternating between them, order
 *    swapped each rep; median of reps): `producer_http_token_vs_none` (goal ≥ 0.9).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  description: `publishing library (batches of ${BATCH}, ${IN_FLIGHT} in flight) vs one awaited XADD per event; HTTP ingest with batches of ${BATCH}, AUTH_MODE=token vs none`,
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
      ctx.figure('producer_http_events_per_s', Math.round(http.none), 'events/s');
      ctx.figure('producer_http_token_events_per_s', Math.round(http.token), 'events/s');
      ctx.figure('producer_http_vs_lib', http.none / bestLib, '×');
      ctx.figure('producer_http_token_vs_none_paired_median', http.pairedRatio, '×');
      ctx.goal('producer_http_token_vs_none', http.token / http.none, 'min', 0.9, '×');
      for (const [s, expected] of Object.entries(http.appended)) {
        const xlen = await redis.xlen(s);
        if (xlen !== expected) throw new Error(`HTTP run: ${expected} events answered 202 on ${s} but XLEN is ${xlen}`);
      }
    } finally {
      redis.disconnect();
    }
  },
};

/** Reps of the HTTP none-vs-token comparison (BENCH_PRODUCER_REPS overrides); each rep runs both modes. */
const REPS = Number(process.env.BENCH_PRODUCER_REPS ?? 10);
const BENCH_TOKEN = 'bench-producer-token';
const HTTP_NONE_STREAM = 'bench:producer:http';
const HTTP_TOKEN_STREAM = 'bench:producer:http:token';

interface Ingest {
  /** Median events/s over the reps, AUTH_MODE=none. */
  none: number;
  /** Median events/s over the reps, AUTH_MODE=token. */
  token: number;
  /** Median of each rep's token/none ratio (the two slices of a rep run back to back). */
  pairedRatio: number;
  /** Events answered 202 per stream (checked against XLEN). */
  appended: Record<string, number>;
}

interface RunningProducer {
  port: number;
  stop(): Promise<void>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Starts `node services/producer/dist/main.js` with `env` on a free port; resolves once it has started. */
async function startProducer(ctx: BenchContext, env: Record<string, string>): Promise<RunningProducer> {
  const proc = spawn(process.execPath, [PRODUCER_MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', REDIS_URL: ctx.redisUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-2000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  };
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
      void exited.then(() => reject(new Error(`producer (AUTH_MODE=${env.AUTH_MODE}) exited before it started: ${err}`)));
      setTimeout(() => reject(new Error('producer did not start within 20 s')), 20_000).unref();
    });
    return { port, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A sender of batches of events to `stream` on `port`, with `headers` added (the bearer token). */
function batchSender(port: number, stream: string, headers: Record<string, string>) {
  const url = `http://127.0.0.1:${port}/v1/streams/${stream}/events`;
  return async (from: number, n: number) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json', ...headers },
      body: JSON.stringify(Array.from({ length: n }, (_, j) => event(from + j))),
    });
    const text = await res.text();
    if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  };
}

/**
 * Two producer processes, AUTH_MODE=none and AUTH_MODE=token (a token file with one client), both
 * warmed up; then REPS reps, each a slice of `EVENTS / 2 / REPS` events into each process, the order
 * swapped every rep so that neither mode always runs first after the other one's load.
 */
async function httpIngest(ctx: BenchContext): Promise<Ingest> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-producer-'));
  const tokensFile = join(dir, 'api-tokens');
  writeFileSync(tokensFile, `bench ${createHash('sha256').update(BENCH_TOKEN).digest('hex')} ${HTTP_TOKEN_STREAM}\n`);
  const running: RunningProducer[] = [];
  try {
    const none = await startProducer(ctx, { AUTH_MODE: 'none', STREAMS: HTTP_NONE_STREAM });
    running.push(none);
    const token = await startProducer(ctx, { AUTH_MODE: 'token', API_TOKENS_FILE: tokensFile, STREAMS: HTTP_TOKEN_STREAM });
    running.push(token);
    const senders = {
      none: batchSender(none.port, HTTP_NONE_STREAM, {}),
      token: batchSender(token.port, HTTP_TOKEN_STREAM, { authorization: `Bearer ${BENCH_TOKEN}` }),
    };
    const WARM = 2000;
    await pooled(WARM, BATCH, IN_FLIGHT, senders.none);
    await pooled(WARM, BATCH, IN_FLIGHT, senders.token);
    const slice = Math.max(1000, Math.floor(EVENTS / 2 / REPS));
    const rates = { none: [] as number[], token: [] as number[] };
    let sent = WARM;
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? (['none', 'token'] as const) : (['token', 'none'] as const);
      const from = sent;
      for (const mode of order) rates[mode].push(await pooled(slice, BATCH, IN_FLIGHT, (f, n) => senders[mode](from + f, n)));
      sent += slice;
      ctx.progress(`HTTP rep ${rep + 1}/${REPS}: none ${Math.round(rates.none[rep]!)} events/s, token ${Math.round(rates.token[rep]!)} events/s`);
    }
    const result = {
      none: median(rates.none),
      token: median(rates.token),
      pairedRatio: median(rates.token.map((t, i) => t / rates.none[i]!)),
      appended: { [HTTP_NONE_STREAM]: sent, [HTTP_TOKEN_STREAM]: sent },
    };
    ctx.progress(`HTTP (${REPS} reps of ${slice} events per mode, batches of ${BATCH}, ${IN_FLIGHT} requests in flight): median none ${Math.round(result.none)}, token ${Math.round(result.token)} events/s`);
    return result;
  } finally {
    for (const p of running) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
