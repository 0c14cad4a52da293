/**
 * `make bench BENCH=scaling`: the lag mode (KEDA parity) against the rate mode on the same scenario
 * with real worker processes (the local target), and activation from zero with the blocking-XREAD
 * watch against the poll alone. Issue 16's "Must show" 1 and 2; the figures and what they mean are in
 * docs/autoscaler.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import Redis from 'ioredis';
import { createLogger, redisSettingsFromUrl } from '@stream-workers/core';
import { Autoscaler, LocalProcessTarget, createActivationWatch, createSignal } from '@stream-workers/autoscaler';
import type { Benchmark, BenchContext } from './harness';
import { REPO_ROOT, quantile, sleep } from './bench-support';
import { POLICY, WORKER_ENV, runScenario, type RunResult, type Sample } from './scaling-run';
import { writeScalingChart } from './scaling-chart';

/** Reversals of the replica count inside [startS, endS], the direction before the window included. */
export function directionChanges(samples: readonly Sample[], startS: number, endS: number): number {
  let prev = 0;
  let changes = 0;
  for (let i = 1; i < samples.length; i++) {
    const d = Math.sign(samples[i]!.replicas - samples[i - 1]!.replicas);
    if (d === 0) continue;
    const t = samples[i]!.t;
    if (t > endS) break;
    if (t >= startS && prev !== 0 && d !== prev) changes += 1;
    prev = d;
  }
  return changes;
}

/** ∫ replicas dt over [0, untilS]. */
export function replicaSeconds(samples: readonly Sample[], untilS: number): number {
  let sum = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    if (a.t >= untilS) break;
    sum += a.replicas * (Math.min(samples[i]!.t, untilS) - a.t);
  }
  return sum;
}

export interface ScalingFigures {
  directionChanges: number;
  ageP99S: number;
  maxBacklog: number;
  /**
   * The steady part of the burst, the case: from the first sample in the burst at which the
   * backlog of the ramp is drained (outstanding ≤ TARGET_PER_REPLICA) to the burst's end. NaN if never.
   */
  steady: { startS: number; directionChanges: number; ageP99S: number; maxBacklog: number };
  replicaSeconds: number;
  /** From the burst's end until outstanding ≤ TARGET_PER_REPLICA (what one replica holds in flight); NaN if never. */
  drainS: number;
}

const p99 = (samples: readonly Sample[]): number => (samples.length ? quantile(samples.map((s) => s.ageS).sort((a, b) => a - b), 0.99) : NaN);

export function scalingFigures(r: RunResult): ScalingFigures {
  const drained = r.samples.find((s) => s.t >= r.burst.endS && s.outstanding <= POLICY.targetPerReplica);
  const steadyStart = r.samples.find((s) => s.t >= r.burst.startS && s.t < r.burst.endS && s.outstanding <= POLICY.targetPerReplica)?.t ?? NaN;
  const steady = r.samples.filter((s) => s.t >= steadyStart && s.t < r.burst.endS);
  return {
    directionChanges: directionChanges(r.samples, r.burst.startS, r.burst.endS),
    ageP99S: p99(r.samples),
    maxBacklog: Math.max(...r.samples.map((s) => s.outstanding)),
    steady: {
      startS: steadyStart,
      directionChanges: Number.isNaN(steadyStart) ? NaN : directionChanges(r.samples, steadyStart, r.burst.endS),
      ageP99S: p99(steady),
      maxBacklog: steady.length ? Math.max(...steady.map((s) => s.outstanding)) : NaN,
    },
    replicaSeconds: replicaSeconds(r.samples, r.loadEndS),
    drainS: drained ? drained.t - r.burst.endS : NaN,
  };
}

/** From an XADD on an idle stream (0 replicas) to a spawned worker and to the event acknowledged, in ms. */
async function activationOnce(redisUrl: string, watch: boolean, i: number): Promise<{ spawnMs: number; processedMs: number }> {
  const stream = `activation-${watch ? 'watch' : 'poll'}-${i}-${Date.now()}`;
  const logger = createLogger({ service: 'bench-activation', level: 'warn' });
  const redis = new Redis(redisUrl);
  const target = new LocalProcessTarget({
    script: join(REPO_ROOT, 'services', 'worker', 'dist', 'main.js'),
    env: { PATH: process.env.PATH, ...WORKER_ENV, STREAM: stream, GROUP: 'workers', REDIS_URL: redisUrl },
    logger,
    output: 'ignore',
    namePrefix: `act-${i}`,
  });
  const pollIntervalMs = 5000; // the autoscaler's default POLL_INTERVAL_MS (KEDA's default is 30 s)
  const signal = createSignal({ stream, group: 'workers', scalingMode: 'lag', targetDrainS: 30, targetLagSeconds: undefined, rateWindowS: 5 }, redis, logger);
  const autoscaler = new Autoscaler({ target, backlog: signal, policy: { ...POLICY, minReplicas: 0 }, pollIntervalMs, logger });
  const w = createActivationWatch({ stream, redis: redisSettingsFromUrl(redisUrl), minReplicas: 0, activationWatch: watch }, autoscaler, logger);
  try {
    autoscaler.start();
    w?.start();
    const deadline = Date.now() + 10_000;
    while (autoscaler.replicas !== 0 && Date.now() < deadline) await sleep(10);
    // A uniformly random phase against the poll, and time for the watch's XREAD to block.
    await sleep(300 + Math.random() * pollIntervalMs);
    const t0 = performance.now();
    await redis.xadd(stream, '*', 'type', 'first');
    let spawnMs = NaN;
    for (;;) {
      if (Number.isNaN(spawnMs) && target.runningConsumers.length > 0) spawnMs = performance.now() - t0;
      const groups = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
      const g = groups[0] ? Object.fromEntries(Array.from({ length: groups[0].length / 2 }, (_, k) => [String(groups[0]![2 * k]), groups[0]![2 * k + 1]])) : undefined;
      if (g && Number(g['entries-read']) >= 1 && Number(g.pending) === 0) return { spawnMs, processedMs: performance.now() - t0 };
      if (performance.now() - t0 > 30_000) throw new Error(`activation run ${i}: event not processed within 30 s`);
      await sleep(5);
    }
  } finally {
    await w?.close();
    await autoscaler.close();
    await target.close();
    redis.disconnect();
  }
}

async function activation(ctx: BenchContext): Promise<void> {
  const runs = 10;
  for (const watch of [true, false]) {
    const spawn: number[] = [];
    const processed: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await activationOnce(ctx.redisUrl, watch, i);
      spawn.push(r.spawnMs);
      processed.push(r.processedMs);
    }
    spawn.sort((a, b) => a - b);
    processed.sort((a, b) => a - b);
    const name = watch ? 'watch' : 'poll_5s';
    ctx.progress(`${name} (load average ${loadavg()[0]!.toFixed(1)}): spawn ${spawn.map((x) => x.toFixed(0)).join(' ')} ms; processed ${processed.map((x) => x.toFixed(0)).join(' ')} ms`);
    if (watch) ctx.goal('activation_watch_spawn_median_ms', quantile(spawn, 0.5), 'max', 1000, 'ms');
    else ctx.figure('activation_poll_5s_spawn_median_ms', quantile(spawn, 0.5), 'ms');
    ctx.figure(`activation_${name}_processed_median_ms`, quantile(processed, 0.5), 'ms');
  }
}

export const scalingModes: Benchmark = {
  name: 'scaling',
  description: 'lag vs rate mode on one scenario (real worker processes, local target); activation from 0 with the watch vs the poll',
  async run(ctx) {
    const results: RunResult[] = [];
    for (const mode of ['lag', 'rate'] as const) {
      const r = await runScenario(ctx.redisUrl, mode, ctx.progress);
      results.push(r);
      const f = scalingFigures(r);
      ctx.figure(`scaling_${mode}_direction_changes_in_burst`, f.directionChanges);
      ctx.figure(`scaling_${mode}_backlog_age_p99_s`, f.ageP99S, 's');
      ctx.figure(`scaling_${mode}_max_backlog`, f.maxBacklog, 'entries');
      ctx.figure(`scaling_${mode}_replica_seconds`, f.replicaSeconds, 'replica·s');
      ctx.figure(`scaling_${mode}_time_to_drain_s`, f.drainS, 's');
      ctx.figure(`scaling_${mode}_steady_burst_from_s`, f.steady.startS, 's');
      ctx.figure(`scaling_${mode}_steady_burst_direction_changes`, f.steady.directionChanges);
      ctx.figure(`scaling_${mode}_steady_burst_backlog_age_p99_s`, f.steady.ageP99S, 's');
      ctx.figure(`scaling_${mode}_steady_burst_max_backlog`, f.steady.maxBacklog, 'entries');
      ctx.figure(`scaling_${mode}_load_average`, r.loadAvg);
    }
    const [lag, rate] = results.map(scalingFigures) as [ScalingFigures, ScalingFigures];
    ctx.goal('scaling_rate_direction_changes_in_burst', rate.directionChanges, 'max', 0);
    ctx.goal('scaling_rate_over_lag_backlog_age_p99', rate.ageP99S / lag.ageP99S, 'max', 0.5, '×');
    ctx.goal('scaling_rate_over_lag_replica_seconds', rate.replicaSeconds / lag.replicaSeconds, 'max', 1.1, '×');
    // The same two goals on the steady part of the burst (what the issue describes: workers keeping up).
    ctx.goal('scaling_rate_steady_burst_direction_changes', rate.steady.directionChanges, 'max', 0);
    ctx.goal('scaling_rate_over_lag_steady_burst_backlog_age_p99', rate.steady.ageP99S / lag.steady.ageP99S, 'max', 0.5, '×');
    const png = await writeScalingChart(results, join(__dirname, '..', 'results', 'scaling.png'));
    // The samples behind every figure (t, replicas, outstanding, backlog age), for a second look.
    const samplesFile = join(__dirname, '..', 'results', 'scaling-samples.json');
    writeFileSync(samplesFile, JSON.stringify(results.map((r) => ({ mode: r.mode, burst: r.burst, loadAvg: r.loadAvg, samples: r.samples }))));
    ctx.progress(`samples: ${samplesFile}`);
    ctx.progress(`chart: ${png}`);
    await activation(ctx);
  },
};
