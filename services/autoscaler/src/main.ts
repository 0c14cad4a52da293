#!/usr/bin/env node
/**
 * The autoscaler binary: `node services/autoscaler/dist/main.js`. Reads its environment
 * (config.ts), then runs the decision loop, the janitor, leader election (TARGET_KIND=deployment)
 * and the ops server until SIGTERM/SIGINT.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  ConfigError,
  OpsServer,
  Shutdown,
  closeRedis,
  createLogger,
  createRedis,
  createRegistry,
  describeStartupError,
  isRedisReady,
  redactUrl,
  signalHandler,
  startupExitCode,
} from '@stream-workers/core';
import { autoscalerConfig } from './config';
import { runPools } from './pools-main';
import { Autoscaler } from './autoscaler';
import { createActivationWatch, createSignal } from './scaling-mode';
import { Janitor, type LivenessProbe } from './janitor';
import { LeaderElection } from './leader-election';
import { loadKubeConfig } from './kube-config';
import type { ScaleTarget } from './scale-target';
import { DeploymentTarget } from './targets/deployment-target';
import { LocalProcessTarget } from './targets/local-process-target';

/** On Kubernetes, a consumer whose pod is gone must also be idle this long (covers a pod created after the pod list). */
const GONE_POD_MIN_IDLE_MS = 30_000;

async function main(): Promise<void> {
  const config = autoscalerConfig.parse(process.env);
  // POOLS set: one autoscaler for several pools (pools-main.ts); the single-target variables are unused.
  if (config.pools) {
    const pools = await runPools(config, config.pools);
    const onPoolsSignal = signalHandler(pools.shutdown, pools.logger, (code) => process.exit(code));
    process.on('SIGTERM', onPoolsSignal);
    process.on('SIGINT', onPoolsSignal);
    return;
  }
  if (config.maxReplicas < config.minReplicas) {
    throw new ConfigError('MAX_REPLICAS', String(config.maxReplicas), `an integer ≥ MIN_REPLICAS (${config.minReplicas})`);
  }
  const logger = createLogger({ service: 'autoscaler', level: config.logLevel, base: { stream: config.stream, group: config.group } });
  const registry = createRegistry();
  const shutdown = new Shutdown({ logger, deadlineMs: 45_000 });
  const redis = createRedis({ url: config.redisUrl, role: 'command', name: 'autoscaler', logger });
  const backlog = createSignal(config, redis, logger);

  let target: ScaleTarget;
  let probe: LivenessProbe;
  let election: LeaderElection | undefined;
  let unknownIdleMs: number | undefined;
  let goneMinIdleMs: number;
  if (config.targetKind === 'deployment') {
    const kubeConfig = loadKubeConfig(config.kubeconfig);
    const deployment = new DeploymentTarget({ kubeConfig, namespace: config.namespace, name: config.targetName });
    target = deployment;
    goneMinIdleMs = GONE_POD_MIN_IDLE_MS;
    probe = async () => {
      const selector = config.podSelector ?? (await deployment.podSelector());
      if (!selector) throw new Error(`deployment ${config.targetName} selects its pods with matchExpressions: set POD_SELECTOR for the janitor`);
      const live = await deployment.podNames(selector);
      return (consumer) => (live.has(consumer) ? 'alive' : 'gone');
    };
    if (config.leaderElection) {
      election = new LeaderElection({
        kubeConfig,
        namespace: config.namespace,
        leaseName: config.leaseName,
        identity: config.identity ?? `${hostname()}_${randomUUID().slice(0, 8)}`,
        leaseDurationS: config.leaseDurationS,
        logger,
      });
    }
  } else {
    const local = new LocalProcessTarget({
      script: config.workerScript ?? join(__dirname, '..', '..', 'worker', 'dist', 'main.js'),
      // The workers inherit this environment (SIM_WORK_MS, CLAIM_IDLE_MS, LOG_LEVEL, …) with the autoscaler's stream, group and Redis.
      env: { ...process.env, STREAM: config.stream, GROUP: config.group, REDIS_URL: config.redisUrl },
      logger,
    });
    target = local;
    goneMinIdleMs = 0;
    unknownIdleMs = config.janitorIdleMs;
    probe = async () => (consumer) => local.liveness(consumer);
  }

  const isLeader = election ? () => election.isLeader : undefined;
  const autoscaler = new Autoscaler({
    target,
    backlog,
    policy: {
      targetPerReplica: config.targetPerReplica,
      activation: config.activation,
      minReplicas: config.minReplicas,
      maxReplicas: config.maxReplicas,
      cooldownS: config.cooldownS,
      scaleDownWindowS: config.scaleDownWindowS,
      fallbackReplicas: config.fallbackReplicas,
    },
    pollIntervalMs: config.pollIntervalMs,
    logger,
    registry,
    ...(isLeader ? { isLeader } : {}),
    logFields: { stream: config.stream, group: config.group },
  });
  const watch = createActivationWatch(config, autoscaler, logger);
  const janitor =
    config.janitorIntervalMs > 0
      ? new Janitor({
          redis,
          stream: config.stream,
          group: config.group,
          logger,
          probe,
          goneMinIdleMs,
          ...(unknownIdleMs !== undefined ? { unknownIdleMs } : {}),
          intervalMs: config.janitorIntervalMs,
          registry,
          ...(isLeader ? { shouldRun: isLeader } : {}),
        })
      : undefined;

  const ops = new OpsServer({
    port: config.port,
    registry,
    logger,
    readiness: () => {
      if (shutdown.started) return { ready: false, reason: 'shutting down' };
      if (!isRedisReady(redis)) return { ready: false, reason: 'redis unreachable' };
      if (election?.lastError?.kind === 'forbidden') return { ready: false, reason: election.lastError.message };
      return autoscaler.readiness();
    },
  });

  shutdown
    .add('activation watch', () => watch?.close())
    .add('decision loop', () => autoscaler.close())
    .add('janitor', () => janitor?.close())
    .add('leader lease', () => election?.close())
    .add('scale target', () => target.close())
    .add('ops server', () => ops.close())
    .add('redis', () => closeRedis(redis));
  const onSignal = signalHandler(shutdown, logger, (code) => process.exit(code));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let port: number;
  try {
    port = await ops.listen();
  } catch (err) {
    await shutdown.run('start-up failed');
    throw err;
  }
  election?.start();
  autoscaler.start();
  watch?.start();
  janitor?.start();
  const p = autoscaler.policy;
  logger.info(
    {
      port,
      redis: redactUrl(config.redisUrl),
      target: target.description,
      leaderElection: election ? { lease: config.leaseName, identity: election.identity } : false,
      policy: { ...p, pollIntervalMs: config.pollIntervalMs, mode: config.scalingMode, activationWatch: watch !== undefined },
      ...(config.scalingMode === 'rate' ? { rate: { targetDrainS: config.targetDrainS, targetLagSeconds: config.targetLagSeconds ?? null, rateWindowS: config.rateWindowS } } : {}),
      janitor: janitor ? { intervalMs: config.janitorIntervalMs, goneMinIdleMs, unknownIdleMs: unknownIdleMs ?? null } : false,
    },
    'autoscaler started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${describeStartupError('autoscaler', err)}\n`);
  process.exit(startupExitCode(err));
});
