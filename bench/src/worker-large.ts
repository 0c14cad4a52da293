/**
 * `worker-large` (issue 13): one worker process (no-op handler) over 256 KiB events at BATCH_SIZE=10
 * and BATCH_SIZE=100, alternating, same stream and Redis: events/s, MB/s, CPU seconds of the worker
 * process and its peak RSS for both, and the ratio events/s at 100 ÷ at 10 (goal ≥ 0.8: a larger
 * batch must not cost large events more). Before issue 13 the read connection grew its receive buffer
 * with Buffer.concat per socket chunk: 1,000 such events cost 14.7 s CPU at 100 vs 2.2 s at 10.
 */
import Redis from 'ioredis';
import type { Benchmark, BenchContext } from './harness';
import { monoMs, sleep, spawnWorker, waitGroupDrained } from './bench-support';
import { fillSized } from './protocol';
import { readFileSync } from 'node:fs';

const BYTES = 256 * 1024;
const EVENTS = Number(process.env.BENCH_LARGE_EVENTS ?? 1000);
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
const STREAM = 'bench:worker-large';

/** utime + stime of a process in seconds (Linux /proc), NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

interface Run {
  eventsPerS: number;
  mbPerS: number;
  cpuS: number;
  peakRssMb: number;
}

async function timeBatch(ctx: BenchContext, admin: Redis, batch: number, group: string): Promise<Run> {
  await admin.call('XGROUP', 'CREATE', STREAM, group, '$');
  const w = spawnWorker({ REDIS_URL: ctx.redisUrl, STREAM, GROUP: group, CONSUMER: `${group}-0`, SIM_WORK_MS: '0', BLOCK_MS: '100', BATCH_SIZE: String(batch), LOG_LEVEL: 'warn' });
  try {
    // LOG_LEVEL warn hides "worker started": wait for the group's consumer instead.
    await waitFor(async () => Number((await admin.xinfo('CONSUMERS', STREAM, group) as unknown[]).length) > 0, 30_000);
    const cpu0 = cpuSeconds(w.proc.pid!);
    const t0 = monoMs();
    await admin.call('XGROUP', 'SETID', STREAM, group, '0', 'ENTRIESREAD', '0');
    await fillSized(admin, STREAM, 1, BYTES); // wakes a blocked read
    const t1 = await waitGroupDrained(admin, STREAM, group, 600_000);
    const n = await admin.xlen(STREAM);
    const seconds = (t1 - t0) / 1000;
    return { eventsPerS: n / seconds, mbPerS: (n * BYTES) / seconds / 1e6, cpuS: cpuSeconds(w.proc.pid!) - cpu0, peakRssMb: w.peakRssKb() / 1024 };
  } finally {
    await w.stop();
    await admin.call('XGROUP', 'DESTROY', STREAM, group);
  }
}

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(20);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export const workerLarge: Benchmark = {
  name: 'worker-large',
  description: `one worker process over ${EVENTS} events of 256 KiB: BATCH_SIZE=100 vs BATCH_SIZE=10 (events/s, MB/s, CPU, peak RSS)`,
  async run(ctx) {
    const admin = new Redis(ctx.redisUrl);
    try {
      ctx.progress(`filling ${EVENTS} entries of 256 KiB`);
      await fillSized(admin, STREAM, EVENTS, BYTES);
      const runs = new Map<number, Run[]>([[10, []], [100, []]]);
      for (let rep = 1; rep <= REPS; rep++) {
        for (const batch of rep % 2 ? [10, 100] : [100, 10]) {
          ctx.progress(`rep ${rep}/${REPS}: BATCH_SIZE=${batch}`);
          const r = await timeBatch(ctx, admin, batch, `b${batch}r${rep}`);
          runs.get(batch)!.push(r);
          ctx.progress(`   ${Math.round(r.eventsPerS)} events/s, ${r.cpuS.toFixed(2)} s CPU, peak RSS ${Math.round(r.peakRssMb)} MiB`);
        }
      }
      for (const [batch, rs] of runs) {
        ctx.figure(`large_b${batch}_events_per_s`, median(rs.map((r) => r.eventsPerS)), 'events/s');
        ctx.figure(`large_b${batch}_events_per_s_reps`, rs.map((r) => Math.round(r.eventsPerS)).join(' '));
        ctx.figure(`large_b${batch}_mb_per_s`, median(rs.map((r) => r.mbPerS)), 'MB/s');
        ctx.figure(`large_b${batch}_cpu_s`, median(rs.map((r) => r.cpuS)), 's');
        ctx.figure(`large_b${batch}_peak_rss_mb`, Math.max(...rs.map((r) => r.peakRssMb)), 'MiB');
      }
      // CPU of the worker process for the same events: the same comparison, far less disturbed by other load.
      const cpu = (b: number): number => median(runs.get(b)!.map((r) => r.cpuS));
      ctx.figure('large_cpu_b100_vs_b10', cpu(100) / cpu(10), '×');
      ctx.goal('large_b100_vs_b10', median(runs.get(100)!.map((r) => r.eventsPerS)) / median(runs.get(10)!.map((r) => r.eventsPerS)), 'min', 0.8, '×');
    } finally {
      admin.disconnect();
    }
  },
};
