#!/usr/bin/env node
/**
 * The autoscaler binary: `node services/autoscaler/dist/main.js`. Reads its environment
 * (config.ts), then runs the decision loop, the janitor, leader election (TARGET_KIND=deployment)
 * and the ops server until SIGTERM/SIGINT.
 */
import { join } from 'node:path';
import { OpsServer, describeRedis, runService, type Env, type Logger, type ScalingPolicy } from '@stream-workers/core';
import { autoscalerConfig, type AutoscalerConfig } from './config';
import { buildPools } from './pools-main';
import { Autoscaler } from './autoscaler';
import { createActivationWatch, createSignal } from './scaling-mode';
import { shardJanitors, type LivenessProbe } from './janitor';
import { autoscalerReadiness, electionFor, type LeaderElection } from './leader-election';
import { loadKubeConfig } from './kube-config';
import type { ScaleTarget } from './scale-target';
import { DeploymentTarget } from './targets/deployment-target';
import { LocalProcessTarget } from './targets/local-process-target';
import { localWorkerEnv } from './targets/worker-env';

/** On Kubernetes, a consumer whose pod is gone must also be idle this long (covers a pod created after the pod list). */
const GONE_POD_MIN_IDLE_MS = 30_000;

/** What is scaled, how the janitor tells live workers, and the leader election (Kubernetes only). */
interface Scaling {
  target: ScaleTarget;
  probe: LivenessProbe;
  election: LeaderElection | undefined;
  goneMinIdleMs: number;
  unknownIdleMs: number | undefined;
}

function deploymentScaling(config: AutoscalerConfig, logger: Logger): Scaling {
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const target = new DeploymentTarget({ kubeConfig, namespace: config.namespace, name: config.targetName });
  const probe: LivenessProbe = async () => {
    const selector = config.podSelector ?? (await target.podSelector());
    if (!selector) throw new Error(`deployment ${config.targetName} selects its pods with matchExpressions: set POD_SELECTOR for the janitor`);
    const live = await target.podNames(selector);
    return (consumer) => (live.has(consumer) ? 'alive' : 'gone');
  };
  const election = electionFor(config, kubeConfig, logger);
  return { target, probe, election, goneMinIdleMs: GONE_POD_MIN_IDLE_MS, unknownIdleMs: undefined };
}

function localScaling(config: AutoscalerConfig, logger: Logger, env: Env): Scaling {
  const target = new LocalProcessTarget({
    script: config.workerScript ?? join(__dirname, '..', '..', 'worker', 'dist', 'main.js'),
    // The workers inherit this environment with the autoscaler's stream, group and Redis, as their own Redis user when set.
    env: localWorkerEnv(env, config),
    logger,
  });
  return { target, probe: async () => (consumer) => target.liveness(consumer), election: undefined, goneMinIdleMs: 0, unknownIdleMs: config.janitorIdleMs };
}

function scalingPolicy(c: AutoscalerConfig): Partial<ScalingPolicy> & Pick<ScalingPolicy, 'targetPerReplica'> {
  const { targetPerReplica, activation, minReplicas, maxReplicas, cooldownS, scaleDownWindowS, fallbackReplicas } = c;
  return { targetPerReplica, activation, minReplicas, maxReplicas, cooldownS, scaleDownWindowS, fallbackReplicas };
}

void runService({
  name: 'autoscaler',
  config: autoscalerConfig,
  // POOLS set: the pools' loops log their own pool, stream and group.
  logBase: (config) => (config.pools ? {} : { stream: config.stream, group: config.group }),
  shutdownDeadlineMs: () => 45_000,
  build(ctx) {
    const { config, logger, registry, shutdown, redis, env } = ctx;
    // POOLS set: one autoscaler for several pools (pools-main.ts); the single-target variables are unused.
    if (config.pools) return buildPools(ctx, config.pools);
    const { target, probe, election, goneMinIdleMs, unknownIdleMs } =
      config.targetKind === 'deployment' ? deploymentScaling(config, logger) : localScaling(config, logger, env);
    const isLeader = election ? () => election.isLeader : undefined;
    const { stream, group } = config;
    const autoscaler = new Autoscaler({
      target,
      backlog: createSignal(config, redis(), logger),
      policy: scalingPolicy(config),
      pollIntervalMs: config.pollIntervalMs,
      logger,
      registry,
      ...(isLeader ? { isLeader } : {}),
      logFields: { stream, group },
    });
    const watch = createActivationWatch(config, autoscaler, logger);
    // One janitor per shard key (the consumers live on each shard's group), one set of metrics.
    const janitor =
      config.janitorIntervalMs > 0
        ? shardJanitors({
            redis: redis(), stream, group, logger, probe, goneMinIdleMs, registry, shards: config.streamShards,
            ...(unknownIdleMs !== undefined ? { unknownIdleMs } : {}),
            intervalMs: config.janitorIntervalMs,
            ...(isLeader ? { shouldRun: isLeader } : {}),
          })
        : undefined;
    const ops = new OpsServer({
      port: config.port,
      registry,
      logger,
      readiness: autoscalerReadiness(redis, () => shutdown.started, election, () => autoscaler.readiness()),
    });
    shutdown
      .add('activation watch', () => watch?.close())
      .add('decision loop', () => autoscaler.close())
      .add('janitor', () => janitor?.close())
      .add('leader lease', () => election?.close())
      .add('scale target', () => target.close())
      .add('ops server', () => ops.close());
    return {
      listen: () => ops.listen(),
      start: () => {
        election?.start();
        autoscaler.start();
        watch?.start();
        janitor?.start();
        return {
          redis: describeRedis(config.redis),
          target: target.description,
          leaderElection: election ? { lease: config.leaseName, identity: election.identity } : false,
          policy: { ...autoscaler.policy, pollIntervalMs: config.pollIntervalMs, mode: config.scalingMode, activationWatch: watch !== undefined },
          ...(config.scalingMode === 'rate' ? { rate: { targetDrainS: config.targetDrainS, targetLagSeconds: config.targetLagSeconds ?? null, rateWindowS: config.rateWindowS } } : {}),
          janitor: janitor ? { intervalMs: config.janitorIntervalMs, goneMinIdleMs, unknownIdleMs: unknownIdleMs ?? null } : false,
        };
      },
    };
  },
});
