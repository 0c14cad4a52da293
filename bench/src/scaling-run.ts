/**
 * One run of the scaling benchmark's scenario: the autoscaler in this process (lag or rate mode) on
 * the local process target (real worker processes), a load generator writing the scenario's rates
 * with XADD, and a sampler reading the group's backlog every SAMPLE_MS. Pure figures from the samples
 * are in {@link scalingFigures}.
 */
import { join } from 'node:path';
import Redis from 'ioredis';
import { buildEvent, createLogger, readGroupBacklog, toFields, type ScalingMode } from '@stream-workers/core';
import { Autoscaler, LocalProcessTarget, createSignal } from '@stream-workers/autoscaler';
import { REPO_ROOT, sleep } from './bench-support';

/** The load: like the demo's (quiet, ramp, burst of four workers' worth, quiet), shortened. */
export interface LoadPhase {
  name: 'quiet' | 'ramp' | 'burst' | 'after';
  durationS: number;
  fromRate: number;
  toRate: number;
}

/** One worker: CONCURRENCY 6 × 1000 / SIM_WORK_MS 40 = 150 events/s at most. */
export const WORKER_ENV = { SIM_WORK_MS: '40', CONCURRENCY: '6', BATCH_SIZE: '12', LOG_LEVEL: 'warn', CLAIM_IDLE_MS: '5000', SHUTDOWN_GRACE_MS: '5000' };
export const PER_WORKER_RATE = 150;
export const SCENARIO: LoadPhase[] = [
  { name: 'quiet', durationS: 8, fromRate: 15, toRate: 15 },
  { name: 'ramp', durationS: 12, fromRate: 20, toRate: 210 },
  { name: 'burst', durationS: 25, fromRate: 600, toRate: 600 },
  { name: 'after', durationS: 25, fromRate: 15, toRate: 15 },
];
/** The autoscaler settings both modes share (the demo's, for a 2 minute run). */
export const POLICY = { targetPerReplica: 50, minReplicas: 1, maxReplicas: 8, cooldownS: 10, scaleDownWindowS: 10 };
export const POLL_MS = 1000;
/** The rate mode's settings: the defaults plus a 5 s backlog-age objective (TARGET_LAG_SECONDS). */
export const RATE = { targetDrainS: 30, targetLagSeconds: 5, rateWindowS: 5 };
export const SAMPLE_MS = 250;

export interface Sample {
  /** Seconds since the load started. */
  t: number;
  replicas: number;
  outstanding: number;
  /** Age in seconds of the oldest entry not yet acknowledged (undelivered or pending). */
  ageS: number;
}

export interface RunResult {
  mode: ScalingMode;
  samples: Sample[];
  burst: { startS: number; endS: number };
  loadEndS: number;
}

function rateAt(tS: number): number {
  let at = 0;
  for (const p of SCENARIO) {
    if (tS < at + p.durationS) return p.fromRate + ((p.toRate - p.fromRate) * (tS - at)) / p.durationS;
    at += p.durationS;
  }
  return 0;
}

/** Writes the scenario's rates with pipelined XADD every 50 ms until the scenario ends. */
async function generate(redis: Redis, stream: string, t0: number, totalS: number): Promise<void> {
  const proto = buildEvent({ source: 'bench', type: 'scaling', data: {} });
  if (!proto.ok) throw new Error('bench event does not validate');
  let owed = 0;
  let last = Date.now();
  let n = 0;
  while (Date.now() - t0 < totalS * 1000) {
    await sleep(50);
    const now = Date.now();
    owed += (rateAt((now - t0) / 1000) * (now - last)) / 1000;
    last = now;
    const p = redis.pipeline();
    for (; owed >= 1; owed--) p.xadd(stream, '*', ...toFields({ ...proto.value, id: `s-${n++}` }));
    await p.exec();
  }
}

/** Runs the scenario in one mode, then waits (at most drainTimeoutS) for the backlog to empty. */
export async function runScenario(redisUrl: string, mode: ScalingMode, progress: (m: string) => void, drainTimeoutS = 90): Promise<RunResult> {
  const stream = `scaling-${mode}-${Date.now()}`;
  const group = 'workers';
  const logger = createLogger({ service: 'bench-autoscaler', level: 'warn' });
  const redis = new Redis(redisUrl);
  const producer = new Redis(redisUrl);
  const target = new LocalProcessTarget({
    script: join(REPO_ROOT, 'services', 'worker', 'dist', 'main.js'),
    env: { PATH: process.env.PATH, ...WORKER_ENV, STREAM: stream, GROUP: group, REDIS_URL: redisUrl },
    logger,
    output: 'ignore',
    namePrefix: `bench-${mode}`,
  });
  const signal = createSignal({ stream, group, scalingMode: mode, ...RATE }, redis, logger);
  const autoscaler = new Autoscaler({ target, backlog: signal, policy: POLICY, pollIntervalMs: POLL_MS, logger });
  const samples: Sample[] = [];
  const totalS = SCENARIO.reduce((s, p) => s + p.durationS, 0);
  const burstStartS = SCENARIO[0]!.durationS + SCENARIO[1]!.durationS;
  try {
    autoscaler.start();
    const t0 = Date.now();
    const load = generate(producer, stream, t0, totalS);
    let drainedAt: number | undefined;
    let nextLog = 10;
    while (drainedAt === undefined || samples[samples.length - 1]!.t < drainedAt + 2) {
      await sleep(SAMPLE_MS);
      const t = (Date.now() - t0) / 1000;
      const obs = await readGroupBacklog(redis, stream, group);
      const outstanding = obs.status === 'ok' ? obs.backlog.outstanding : obs.status === 'no-group' ? obs.streamLength : 0;
      const ageS = obs.status === 'ok' ? Math.max(obs.backlog.lagSeconds, obs.backlog.oldestPendingSeconds) : obs.status === 'no-group' ? obs.lagSeconds : 0;
      samples.push({ t, replicas: autoscaler.replicas ?? 0, outstanding, ageS });
      if (t > totalS && outstanding === 0 && drainedAt === undefined) drainedAt = t;
      if (t > totalS + drainTimeoutS) break;
      if (t >= nextLog) {
        progress(`${mode}: t=${t.toFixed(0)} s replicas=${autoscaler.replicas} outstanding=${outstanding} age=${ageS.toFixed(1)} s`);
        nextLog += 10;
      }
    }
    await load;
  } finally {
    await autoscaler.close();
    await target.close();
    redis.disconnect();
    producer.disconnect();
  }
  return { mode, samples, burst: { startS: burstStartS, endS: burstStartS + SCENARIO[2]!.durationS }, loadEndS: totalS };
}
