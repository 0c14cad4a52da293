/**
 * Lag exporter scrape cost: 200 streams × 3 groups (one in the middle of its stream with pending
 * entries, one at the end, one never read). The subject is a full scrape of the real exporter
 * binary over HTTP (`GET /metrics`: the Redis reads, rendering with the process metrics; discovery as
 * deployed by default, and also with a SCAN at every scrape, reported as a figure); the peer is one pipelined round of bare `XINFO GROUPS` over the same 200
 * streams from this process, the least any exporter of group lag must do. Both are measured
 * interleaved in the same run on the same private redis-server; the goal is the ratio of medians.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '@stream-workers/core';
import type { Benchmark, BenchContext } from './harness';
import { REPO_ROOT, fillStream, monoMs, quantile, sleep } from './bench-support';

const STREAMS = 200;
const ENTRIES = 1000;
const ROUNDS = 41;
const WARMUP = 5;

async function setUp(redis: Redis, ctx: BenchContext): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const s = `bench:exp:${String(i).padStart(3, '0')}`;
    names.push(s);
    await fillStream(redis, s, ENTRIES);
    const p = redis.pipeline();
    p.xgroup('CREATE', s, 'mid', '0');
    p.xgroup('CREATE', s, 'end', '$');
    p.xgroup('CREATE', s, 'unread', '0');
    p.xreadgroup('GROUP', 'mid', 'c1', 'COUNT', 300, 'STREAMS', s, '>');
    p.xreadgroup('GROUP', 'mid', 'c2', 'COUNT', 100, 'STREAMS', s, '>');
    await p.exec();
    if (i % 50 === 49) ctx.progress(`${i + 1}/${STREAMS} streams of ${ENTRIES} entries with 3 groups`);
  }
  return names;
}

function startExporter(redisUrl: string, port: number, discoveryIntervalMs: number) {
  return spawn(process.execPath, [join(REPO_ROOT, 'services', 'lag-exporter', 'dist', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl, PORT: String(port), STREAMS: 'bench:exp:*', DISCOVERY_INTERVAL_MS: String(discoveryIntervalMs), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

async function waitUp(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('lag exporter did not become ready within 20 s');
    await sleep(50);
  }
}

/** Medians of interleaved full scrapes of the exporter on `port` and bare XINFO GROUPS rounds. */
async function measure(redis: Redis, names: string[], port: number): Promise<{ scrape: number[]; xinfo: number[]; reported: number[]; series: number }> {
  const scrape: number[] = [];
  const xinfo: number[] = [];
  const reported: number[] = [];
  let series = 0;
  for (let i = 0; i < ROUNDS + WARMUP; i++) {
    let t = monoMs();
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const scrapeMs = monoMs() - t;
    t = monoMs();
    const p = redis.pipeline();
    for (const s of names) p.xinfo('GROUPS', s);
    const replies = await p.exec();
    const xinfoMs = monoMs() - t;
    if (!replies || replies.some(([err]) => err)) throw new Error('XINFO GROUPS failed');
    if (!/^stream_workers_exporter_up 1$/m.test(body)) throw new Error('exporter_up is not 1 during the benchmark');
    if (i < WARMUP) continue;
    scrape.push(scrapeMs);
    xinfo.push(xinfoMs);
    const d = /^stream_workers_exporter_scrape_duration_seconds (\S+)$/m.exec(body);
    if (d) reported.push(Number(d[1]) * 1000);
    series = body.split('\n').filter((l) => l.startsWith('stream_workers_group_outstanding{')).length;
  }
  return { scrape, xinfo, reported, series };
}

const median = (a: number[]): number => quantile([...a].sort((x, y) => x - y), 0.5);

export const exporterScrape: Benchmark = {
  name: 'exporter',
  description: `lag exporter: full /metrics scrape of ${STREAMS} streams × 3 groups vs one pipelined round of bare XINFO GROUPS`,
  async run(ctx) {
    const redis = new Redis(ctx.redisUrl);
    const [portDefault, portScan] = [await freePort(), await freePort()];
    // As deployed (DISCOVERY_INTERVAL_MS default 30 s: the SCAN is reused), and with a SCAN at every scrape.
    const procs = [startExporter(ctx.redisUrl, portDefault, 30_000), startExporter(ctx.redisUrl, portScan, 0)];
    try {
      const names = await setUp(redis, ctx);
      await waitUp(portDefault);
      await waitUp(portScan);
      const a = await measure(redis, names, portDefault);
      const b = await measure(redis, names, portScan);
      if (a.series !== STREAMS * 3 || b.series !== STREAMS * 3) throw new Error(`expected ${STREAMS * 3} group series, got ${a.series} and ${b.series}`);
      ctx.figure('exporter_groups', a.series);
      ctx.figure('exporter_scrape_median_ms', median(a.scrape), 'ms');
      ctx.figure('exporter_scrape_p90_ms', quantile([...a.scrape].sort((x, y) => x - y), 0.9), 'ms');
      ctx.figure('exporter_redis_read_median_ms', median(a.reported), 'ms');
      ctx.figure('xinfo_groups_round_median_ms', median(a.xinfo), 'ms');
      ctx.figure('exporter_scrape_scan_every_scrape_median_ms', median(b.scrape), 'ms');
      ctx.figure('exporter_scrape_scan_every_scrape_vs_xinfo', median(b.scrape) / median(b.xinfo), '×');
      ctx.figure('exporter_redis_read_vs_xinfo', median(a.reported) / median(a.xinfo), '×');
      ctx.goal('exporter_scrape_vs_xinfo', median(a.scrape) / median(a.xinfo), 'max', 4, '×');
    } finally {
      for (const p of procs) p.kill('SIGTERM');
      redis.disconnect();
    }
  },
};
