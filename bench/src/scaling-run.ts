/**
 * One run of the scaling benchmark's scenario: the autoscaler in this process (lag or rate mode) on
 * the local process target (real worker processes), a load generator writing the scenario's rates
 * with XADD, and a sampler reading the group's backlog every SAMPLE_MS. Pure figures from the samples
 * are in {@link scalingFigures}.
 */
import { join } from 'node:path';
import { loadavg } from 'node:os';
import Redis from 'ioredis';
import { buildEvent, createLogger, readGroupBacklog, toFields, type ScalingMode } from '@stream-workers/core';
import { Autoscaler, LocalProcessTarget, createSignal } from '@stream-workers/autoscaler';
import { REPO_ROOT, sleep } from './bench-support';

/** The load: the (a trickle, a ramp, a steady burst that BURST_WORKERS keep up with, a trickle). */
export interface LoadPhase {
  name: 'quiet' | 'ramp' | 'burst' | 'after';
  durationS: number;
  fromRate: number;
  toRate: number;
}

/**
 * One worker: CONCURRENCY 10 × 1000 / SIM_WORK_MS 250 = 40 events/s at most. The simulated handler
 * waits (a timer, no CPU), so the capacity per replica is known and a loaded 2-core machine still runs
 * the scenario; long waits make the scheduling delays of a loaded machine a small part of each event.
 */
export const WORKER_ENV = { SIM_WORK_MS: '250', CONCURRENCY: '10', BATCH_SIZE: '10', LOG_LEVEL: 'warn', CLAIM_IDLE_MS: '5000', SHUTDOWN_GRACE_MS: '5000' };
export const PER_WORKER_RATE = 40;
/**
 * A trickle one worker takes, a ramp up to the burst (so that the replicas can follow within the HPA's
 * scale-up limit and the start-up time of a worker process, the same for both modes), a minute of
 * steady burst that 5 workers keep up with and 3 do not, a trickle.
 */
export const SCENARIO: LoadPhase[] = [
  { name: 'quiet', durationS: 10, fromRate: PER_WORKER_RATE / 2, toRate: PER_WORKER_RATE / 2 },
  { name: 'ramp', durationS: 30, fromRate: PER_WORKER_RATE / 2, toRate: PER_WORKER_RATE * 4 },
  // 4 workers' worth at the nominal rate: 5 workers keep up (with room for a loaded machine), 3 do not.
  { name: 'burst', durationS: 60, fromRate: PER_WORKER_RATE * 4, toRate: PER_WORKER_RATE * 4 },
  { name: 'after', durationS: 25, fromRate: PER_WORKER_RATE / 2, toRate: PER_WORKER_RATE / 2 },
];
/**
 * The autoscaler settings both modes share. TARGET_PER_REPLICA=40 is one second of one worker's work,
 * the lag a KEDA user would allow per replica; 5 workers keeping up hold about 5 × 8 entries in flight
 * (32/s each × 0.25 s) plus what they read ahead, so ceil(outstanding / 40) falls below 5 in the
 * middle of the burst, as KEDA's would.
 */
export const POLICY = { targetPerReplica: 40, minReplicas: 1, maxReplicas: 8, cooldownS: 10, scaleDownWindowS: 10 };
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
  /** Mean 1-minute load average of the machine over the run. */
  loadAvg: number;
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

/** Waits until the group has a consumer (the first worker is reading). */
async function waitForConsumer(redis: Redis, stream: string, group: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const consumers = (await redis.xinfo('CONSUMERS', stream, group).catch(() => [])) as unknown[];
    if (consumers.length > 0) return;
    if (Date.now() > deadline) throw new Error(`no worker of ${stream} started within ${timeoutMs} ms`);
    await sleep(100);
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
  const loads: number[] = [];
  const totalS = SCENARIO.reduce((s, p) => s + p.durationS, 0);
  const burstStartS = SCENARIO[0]!.durationS + SCENARIO[1]!.durationS;
  try {
    autoscaler.start();
    // Both modes start from one running worker: its process start (seconds on a loaded machine) is not
    // part of the scenario.
    await waitForConsumer(redis, stream, group, 120_000);
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
      loads.push(loadavg()[0]!);
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
  return { mode, samples, burst: { startS: burstStartS, endS: burstStartS + SCENARIO[2]!.durationS }, loadEndS: totalS, loadAvg: loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length) };
}
