/**
 * Worker benchmarks (issues 3 and 9), all on the harness's private redis-server in one run so the
 * ratios hold:
 *  - `worker`: events/s of one worker process (no-op handler) vs the naive loop of the seed articles
 *    (XREADGROUP COUNT 10, then one awaited XACK per event) and vs a BullMQ worker (best of
 *    concurrency 10/50/100) on the same number of jobs;
 *  - `worker-ceiling`: 1, 2 and 4 worker processes vs the server's own read+ack ceiling (a Lua
 *    script looping XREADGROUP + XACK inside Redis);
 *  - `worker-latency`: publish → handler start at a paced 5,000 and 20,000 events/s.
 * Throughput runs are repeated BENCH_REPS times (default 3), subject and peer alternating, and their
 * medians compared; worker processes get an untimed warm-up first (see timeWorkers).
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Queue, Worker as BullWorker } from 'bullmq';
import { buildEvent, fieldsToObject, toFields } from '@stream-workers/core';
import type { Benchmark, BenchContext } from './harness';
import { REPO_ROOT, fillStream, monoMs, quantile, sleep, spawnWorker, waitGroupDrained } from './bench-support';

/** Entries per throughput run (BENCH_WORKER_EVENTS overrides, for quick runs). */
const EVENTS = Number(process.env.BENCH_WORKER_EVENTS ?? 200_000);
/** Jobs per BullMQ run (BENCH_BULLMQ_JOBS overrides). */
const BULLMQ_JOBS = Number(process.env.BENCH_BULLMQ_JOBS ?? 40_000);
const STREAM = 'bench:worker';

/** Entries the workers of a timed run read first, untimed (JIT warm-up; BENCH_WARMUP_EVENTS overrides). */
const WARMUP_EVENTS = Number(process.env.BENCH_WARMUP_EVENTS ?? 40_000);
/** Id of the entry ARGV[1] places before the end of the stream (the start of the warm-up range). */
const WARM_FROM_LUA = `local r = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1]) return r[#r][1]`;

/**
 * Starts `procs` worker processes on a fresh group; after an untimed warm-up over the stream's last
 * entries, rewinds the group to the start and times the whole stream. Returns events/s and the peak
 * RSS of the first process.
 */
async function timeWorkers(ctx: BenchContext, admin: Redis, group: string, procs: number): Promise<{ rate: number; peakRssMb: number }> {
  await admin.call('XGROUP', 'CREATE', STREAM, group, '$');
  const ws = Array.from({ length: procs }, (_, i) =>
    spawnWorker({ REDIS_URL: ctx.redisUrl, STREAM, GROUP: group, CONSUMER: `${group}-${i}`, SIM_WORK_MS: '0', BLOCK_MS: '100' }),
  );
  try {
    await Promise.all(ws.map((w) => w.started));
    await sleep(300); // every worker is now blocked in XREADGROUP on an empty group
    // Warm-up, untimed: the group first reads the stream's last WARMUP_EVENTS entries, so the timed run
    // measures workers in their steady state (optimized code), as a long-running deployment is.
    const from = await admin.eval(WARM_FROM_LUA, 1, STREAM, String(Math.min(WARMUP_EVENTS, EVENTS)));
    await admin.call('XGROUP', 'SETID', STREAM, group, String(from));
    await fillStream(admin, STREAM, 1);
    await waitGroupDrained(admin, STREAM, group, 120_000);
    const t0 = monoMs();
    // Rewind the group to the start: the whole stream becomes its backlog; one XADD wakes the blocked reads.
    await admin.call('XGROUP', 'SETID', STREAM, group, '0', 'ENTRIESREAD', '0');
    await fillStream(admin, STREAM, 1);
    const t1 = await waitGroupDrained(admin, STREAM, group, 600_000);
    const n = await admin.xlen(STREAM);
    const peakRssMb = ws[0]!.peakRssKb() / 1024;
    return { rate: n / ((t1 - t0) / 1000), peakRssMb };
  } finally {
    await Promise.all(ws.map((w) => w.stop()));
  }
}

/** Repetitions of each throughput measurement; the median is reported (BENCH_REPS overrides). */
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
/** Events per naive-loop repetition: it runs at round-trip speed, and its rate is steady long before this. */
const NAIVE_EVENTS = Math.min(EVENTS, 60_000);

const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

/** The naive loop of the seed articles: XREADGROUP COUNT 10, then one awaited XACK per event; stops after `limit` events. */
async function timeNaive(ctx: BenchContext, group: string, limit: number): Promise<number> {
  const r = new Redis(ctx.redisUrl);
  try {
    await r.call('XGROUP', 'CREATE', STREAM, group, '0');
    const t0 = monoMs();
    let n = 0;
    while (n < limit) {
      const res = (await r.xreadgroup('GROUP', group, 'c1', 'COUNT', 10, 'STREAMS', STREAM, '>')) as [string, [string, string[]][]][] | null;
      if (!res || res[0]![1].length === 0) break;
      for (const [id, fields] of res[0]![1]) {
        JSON.parse(fieldsToObject(fields).data ?? 'null'); // the same parse the worker does before its no-op handler
        await r.xack(STREAM, group, id);
        n++;
      }
    }
    return n / ((monoMs() - t0) / 1000);
  } finally {
    r.disconnect();
  }
}

/** A BullMQ worker with a no-op processor over `n` jobs added beforehand with addBulk. */
async function timeBullmq(ctx: BenchContext, n: number, concurrency: number): Promise<number> {
  const u = new URL(ctx.redisUrl);
  const connection = { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
  const name = `bench-${concurrency}`;
  const queue = new Queue(name, { connection });
  try {
    for (let start = 0; start < n; start += 1000) {
      const jobs = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) jobs.push({ name: 'noop', data: { i }, opts: { removeOnComplete: true, removeOnFail: true } });
      await queue.addBulk(jobs);
    }
    let done = 0;
    let finish!: () => void;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const worker = new BullWorker(name, async () => undefined, { connection, concurrency, autorun: false });
    worker.on('completed', () => {
      if (++done === n) finish();
    });
    const t0 = monoMs();
    void worker.run();
    await all;
    const rate = n / ((monoMs() - t0) / 1000);
    await worker.close();
    return rate;
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

const CEILING_LUA = `
local n = 0
local limit = tonumber(ARGV[3])
while n < limit do
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], 'lua', 'COUNT', ARGV[2], 'STREAMS', KEYS[1], '>')
  if not r then break end
  local entries = r[1][2]
  if #entries == 0 then break end
  local ids = {}
  for i, e in ipairs(entries) do ids[i] = e[1] end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  n = n + #entries
end
return n`;

/** The server's read+ack ceiling: XREADGROUP COUNT 100 + XACK looped inside Redis, 10,000 per EVAL, timed from the client. */
async function timeCeiling(admin: Redis, group: string): Promise<number> {
  await admin.call('XGROUP', 'CREATE', STREAM, group, '0');
  const t0 = monoMs();
  let n = 0;
  for (;;) {
    const got = Number(await admin.eval(CEILING_LUA, 1, STREAM, group, '100', '10000'));
    n += got;
    if (got < 10_000) break;
  }
  return n / ((monoMs() - t0) / 1000);
}

export const workerThroughput: Benchmark = {
  name: 'worker',
  description: `worker events/s (1 process, no-op handler, ${EVENTS} entries) vs the naive loop and vs BullMQ`,
  async run(ctx) {
    const admin = new Redis(ctx.redisUrl);
    try {
      ctx.progress(`filling ${EVENTS} entries`);
      await fillStream(admin, STREAM, EVENTS);
      // Naive loop and worker alternate, REPS times each; medians are compared (the machine is shared and noisy).
      const naive: number[] = [];
      const worker: number[] = [];
      let peakRssMb = 0;
      for (let rep = 1; rep <= REPS; rep++) {
        ctx.progress(`rep ${rep}/${REPS}: naive loop (XREADGROUP COUNT 10 + one awaited XACK per event), ${NAIVE_EVENTS} events`);
        naive.push(await timeNaive(ctx, `naive${rep}`, NAIVE_EVENTS));
        ctx.progress(`rep ${rep}/${REPS}: worker, 1 process, ${EVENTS} events`);
        const w = await timeWorkers(ctx, admin, `w${rep}`, 1);
        worker.push(w.rate);
        peakRssMb = Math.max(peakRssMb, w.peakRssMb);
        ctx.progress(`rep ${rep}/${REPS}: naive ${Math.round(naive[rep - 1]!)}/s, worker ${Math.round(w.rate)}/s`);
      }
      const naiveRate = median(naive);
      const workerRate = median(worker);
      ctx.figure('naive_events_per_s', naiveRate, 'events/s');
      ctx.figure('naive_events_per_s_reps', naive.map((x) => Math.round(x)).join(' '));
      ctx.figure('worker_events_per_s', workerRate, 'events/s');
      ctx.figure('worker_events_per_s_reps', worker.map((x) => Math.round(x)).join(' '));
      ctx.figure('worker_peak_rss_mb', peakRssMb, 'MiB');
      ctx.goal('worker_vs_naive', workerRate / naiveRate, 'min', 8, '×');
      ctx.goal('worker_vs_naive_issue3', workerRate / naiveRate, 'min', 6, '×');
      let best = 0;
      let bestC = 0;
      // BullMQ runs at a few thousand jobs/s: its rate is measured on fewer jobs (rates compare; a
      // 200,000-job run per concurrency would take minutes each).
      const bullJobs = Math.min(EVENTS, BULLMQ_JOBS);
      ctx.figure('bullmq_jobs_per_run', bullJobs);
      for (const c of [10, 50, 100]) {
        ctx.progress(`BullMQ, concurrency ${c}: addBulk ${bullJobs} jobs, then process`);
        const r = await timeBullmq(ctx, bullJobs, c);
        ctx.figure(`bullmq_events_per_s_c${c}`, r, 'events/s');
        if (r > best) [best, bestC] = [r, c];
      }
      ctx.figure('bullmq_best_concurrency', bestC);
      ctx.goal('worker_vs_bullmq', workerRate / best, 'min', 8, '×');
    } finally {
      admin.disconnect();
    }
  },
};

export const workerCeiling: Benchmark = {
  name: 'worker-ceiling',
  description: `1, 2 and 4 worker processes vs the server's read+ack ceiling (Lua XREADGROUP+XACK loop, ${EVENTS} entries)`,
  async run(ctx) {
    const admin = new Redis(ctx.redisUrl);
    try {
      ctx.progress(`filling ${EVENTS} entries`);
      await fillStream(admin, STREAM, EVENTS);
      // The ceiling and 1, 2, 4 processes in turn, REPS rounds; medians are compared.
      const ceiling: number[] = [];
      const byProcs = new Map<number, number[]>([[1, []], [2, []], [4, []]]);
      for (let rep = 1; rep <= REPS; rep++) {
        ctx.progress(`rep ${rep}/${REPS}: ceiling (Lua XREADGROUP COUNT 100 + XACK inside Redis)`);
        ceiling.push(await timeCeiling(admin, `lua${rep}`));
        for (const [procs, rates] of byProcs) {
          ctx.progress(`rep ${rep}/${REPS}: ${procs} worker process(es)`);
          rates.push((await timeWorkers(ctx, admin, `p${procs}r${rep}`, procs)).rate);
        }
        ctx.progress(`rep ${rep}/${REPS}: ceiling ${Math.round(ceiling[rep - 1]!)}/s, 4 processes ${Math.round(byProcs.get(4)![rep - 1]!)}/s`);
      }
      const c = median(ceiling);
      ctx.figure('ceiling_events_per_s', c, 'events/s');
      ctx.figure('ceiling_events_per_s_reps', ceiling.map((x) => Math.round(x)).join(' '));
      for (const [procs, rates] of byProcs) {
        ctx.figure(`workers_${procs}proc_events_per_s`, median(rates), 'events/s');
        ctx.figure(`workers_${procs}proc_events_per_s_reps`, rates.map((x) => Math.round(x)).join(' '));
        if (procs === 4) ctx.goal('ceiling_fraction_4proc', median(rates) / c, 'min', 0.7);
        else ctx.figure(`ceiling_fraction_${procs}proc`, median(rates) / c);
      }
    } finally {
      admin.disconnect();
    }
  },
};

const LATENCY_HANDLER = join(REPO_ROOT, 'bench', 'handlers', 'latency-handler.js');
/** Events discarded at the start of each latency run (connection set-up, JIT warm-up). */
const WARMUP = 500;

/** Publishes at `rate` events/s for `seconds` with XADD (pipelined per ~1 ms tick); each event's data carries its send time. */
async function pacedLatency(ctx: BenchContext, rate: number, seconds: number): Promise<number[]> {
  const stream = `bench:lat:${rate}`;
  const dir = mkdtempSync(join(tmpdir(), 'bench-lat-'));
  const file = join(dir, 'latencies.txt');
  const producer = new Redis(ctx.redisUrl);
  const admin = new Redis(ctx.redisUrl);
  const w = spawnWorker({ REDIS_URL: ctx.redisUrl, STREAM: stream, GROUP: 'lat', CONSUMER: 'lat-0', BLOCK_MS: '100', HANDLER: LATENCY_HANDLER, LAT_FILE: file });
  try {
    await w.started;
    await sleep(300);
    const proto = buildEvent({ source: 'bench', type: 'latency', data: {} });
    if (!proto.ok) throw new Error('bench event does not validate');
    const total = rate * seconds;
    const start = monoMs();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((monoMs() - start) / 1000) * rate));
      if (due > sent) {
        const p = producer.pipeline();
        const sentAt = monoMs();
        for (; sent < due; sent++) p.xadd(stream, '*', ...toFields({ ...proto.value, id: `lat-${sent}`, data: { sentAt } }));
        await p.exec();
      } else {
        await sleep(1);
      }
    }
    await waitGroupDrained(admin, stream, 'lat', 120_000, 50);
    // The handler flushes its file every 100 ms.
    const deadline = Date.now() + 10_000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length >= total) break;
      await sleep(100);
    }
    if (lines.length < total) throw new Error(`latency handler recorded ${lines.length} of ${total} events`);
    return lines.slice(WARMUP).map(Number).sort((a, b) => a - b);
  } finally {
    await w.stop();
    producer.disconnect();
    admin.disconnect();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const workerLatency: Benchmark = {
  name: 'worker-latency',
  description: 'end-to-end latency publish (XADD) → handler start, 1 worker process, paced at 5,000 and 20,000 events/s',
  async run(ctx) {
    for (const [rate, seconds, label] of [[5000, 8, '5k'], [20_000, 5, '20k']] as const) {
      ctx.progress(`${rate} events/s for ${seconds} s`);
      const lat = await pacedLatency(ctx, rate, seconds);
      ctx.figure(`e2e_p50_ms_${label}`, quantile(lat, 0.5), 'ms');
      if (label === '5k') ctx.goal('e2e_p99_ms_5k', quantile(lat, 0.99), 'max', 5, 'ms');
      else ctx.figure(`e2e_p99_ms_${label}`, quantile(lat, 0.99), 'ms');
      ctx.figure(`e2e_max_ms_${label}`, lat[lat.length - 1]!, 'ms');
    }
  },
};
