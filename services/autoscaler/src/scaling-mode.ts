import { createRedis, readGroupBacklog, readShardedBacklog, type Logger, type RedisConnection } from '@stream-workers/core';
import type { Autoscaler } from './autoscaler';
import { ActivationWatch } from './activation-watch';
import { BacklogSource } from './backlog-source';
import type { AutoscalerConfig } from './config';
import { RateSignal } from './rate-signal';

type ModeConfig = Pick<AutoscalerConfig, 'stream' | 'group' | 'scalingMode' | 'targetDrainS' | 'targetLagSeconds' | 'rateWindowS'> & { streamShards?: number };

/**
 * The signal of SCALING_MODE: the backlog (lag, KEDA parity) or the rates (rate). With STREAM_SHARDS
 * > 1 the backlog is the total over the shards (the config refuses the rate mode there).
 */
export function createSignal(config: ModeConfig, redis: RedisConnection, logger: Logger): BacklogSource | RateSignal {
  const shards = config.streamShards ?? 1;
  const base = { redis, stream: config.stream, group: config.group, read: readGroupBacklog, logger };
  if (shards > 1) return new BacklogSource({ ...base, read: (r, stream, group) => readShardedBacklog(r, stream, group, shards) });
  if (config.scalingMode === 'lag') return new BacklogSource(base);
  return new RateSignal({
    ...base,
    policy: { targetDrainS: config.targetDrainS, targetLagSeconds: config.targetLagSeconds, rateWindowS: config.rateWindowS },
  });
}

/**
 * The activation watch (ACTIVATION_WATCH, only with MIN_REPLICAS=0): its own Redis connection,
 * blocked at the stream's tail while the target runs 0 replicas; an entry triggers a decision at once.
 */
export function createActivationWatch(
  config: Pick<AutoscalerConfig, 'stream' | 'redis' | 'minReplicas' | 'activationWatch'> & { streamShards?: number },
  autoscaler: Pick<Autoscaler, 'replicas' | 'tick'>,
  logger: Logger,
): ActivationWatch | undefined {
  // Sharded: no watch (an XREAD over keys of different slots fails in a cluster); polling activates.
  if (!config.activationWatch || config.minReplicas > 0 || (config.streamShards ?? 1) > 1) return undefined;
  const redis = createRedis({ settings: config.redis, role: 'command', name: 'autoscaler:activation', logger });
  return new ActivationWatch({
    redis,
    stream: config.stream,
    isIdle: () => autoscaler.replicas === 0,
    onEntry: () => void autoscaler.tick(),
    logger,
  });
}
