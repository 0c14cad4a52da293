/**
 * The autoscaler serving several pools (POOLS set, the chart's `workers:` map): one Redis
 * connection, one leader Lease, one ops server, and per pool a Deployment target, a signal (lag or
 * rate), a decision loop, an activation watch (minReplicas 0) and (when the pool names its pods) a
 * janitor. Built by main.ts (runService) when POOLS is set.
 */
import { OpsServer, describeRedis, type BuiltService, type ServiceContext } from '@stream-workers/core';
import type { AutoscalerConfig } from './config';
import type { ActivationWatch } from './activation-watch';
import { createActivationWatch, createSignal } from './scaling-mode';
import { shardJanitors, type JanitorGroup } from './janitor';
import { autoscalerReadiness, electionFor } from './leader-election';
import { loadKubeConfig } from './kube-config';
import { PoolSet } from './pools';
import type { PoolSpec } from './pools-config';
import { DeploymentTarget } from './targets/deployment-target';

/** A consumer whose pod is gone must also be idle this long (covers a pod created after the pod list). */
const GONE_POD_MIN_IDLE_MS = 30_000;

/** Builds every pool's parts and their shutdown steps; the caller (runService) listens and starts. */
export function buildPools(ctx: ServiceContext<AutoscalerConfig>, pools: PoolSpec[]): BuiltService {
  const { config, logger, registry, shutdown } = ctx;
  const redis = ctx.redis();
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const election = electionFor(config, kubeConfig, logger);
  const isLeader = election ? () => election.isLeader : () => true;

  const parts = pools.map((spec) => {
    const target = new DeploymentTarget({ kubeConfig, namespace: config.namespace, name: spec.deployment });
    // STREAM_SHARDS applies to every pool's stream: the signal is each pool's total over its shards.
    return { spec, target, backlog: createSignal({ ...spec, streamShards: config.streamShards }, redis, logger.child({ pool: spec.name })), janitor: undefined as JanitorGroup | undefined };
  });
  const set = new PoolSet({ pools: parts, logger, registry, isLeader });
  // A janitor per pool that names its pods (its figures labelled with the pool).
  for (const p of parts) {
    const selector = p.spec.podSelector;
    if (config.janitorIntervalMs <= 0 || !selector) continue;
    const metrics = set.janitorMetrics(p.spec.name);
    p.janitor = shardJanitors({
      shards: config.streamShards,
      redis,
      stream: p.spec.stream,
      group: p.spec.group,
      logger: logger.child({ pool: p.spec.name }),
      probe: async () => {
        const live = await p.target.podNames(selector);
        return (consumer) => (live.has(consumer) ? 'alive' : 'gone');
      },
      goneMinIdleMs: GONE_POD_MIN_IDLE_MS,
      intervalMs: config.janitorIntervalMs,
      shouldRun: isLeader,
      ...(metrics ? { metrics } : {}),
    });
  }
  // Per pool at minReplicas 0 (and activationWatch): a blocking XREAD at the stream's tail, its own connection.
  const watches = parts
    .map((p) =>
      createActivationWatch(
        { ...p.spec, redis: config.redis, streamShards: config.streamShards },
        {
          get replicas() {
            return set.replicas(p.spec.name);
          },
          tick: () => set.tick(p.spec.name),
        },
        logger.child({ pool: p.spec.name }),
      ),
    )
    .filter((w): w is ActivationWatch => w !== undefined);

  const ops = new OpsServer({
    port: config.port,
    registry,
    logger,
    readiness: autoscalerReadiness(() => redis, () => shutdown.started, election, () => set.readiness()),
  });
  shutdown
    .add('activation watches', async () => {
      await Promise.all(watches.map((w) => w.close()));
    })
    .add('decision loops', () => set.close())
    .add('janitors', async () => {
      await Promise.all(parts.map((p) => p.janitor?.close()));
    })
    .add('leader lease', () => election?.close())
    .add('scale targets', async () => {
      await Promise.all(parts.map((p) => p.target.close()));
    })
    .add('ops server', () => ops.close());

  return {
    listen: () => ops.listen(),
    start: () => {
      election?.start();
      set.start();
      for (const w of watches) w.start();
      for (const p of parts) p.janitor?.start();
      return {
        redis: describeRedis(config.redis),
        leaderElection: election ? { lease: config.leaseName, identity: election.identity } : false,
        pools: pools.map((p) => ({ ...p, janitor: parts.find((x) => x.spec === p)?.janitor ? { intervalMs: config.janitorIntervalMs } : false })),
      };
    },
  };
}
