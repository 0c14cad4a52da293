import type { RedisConnection } from '../redis';
import { readGroupBacklog } from './lag-commands';
import { DEFAULT_COUNT_LIMIT, type BacklogResult, type GroupBacklog } from './lag-model';
import { parseShardKey, shardKeys } from './keys';

/**
 * The backlogs of the shards of one stream (`STREAM_SHARDS`) as one: what the pool that reads them all
 * has to do. Sums the lengths, lags, pendings and outstanding entries; ages and consumers are the
 * largest over the shards (every worker of the pool is a consumer of every shard). A shard without the
 * group counts its whole length, as a stream without it does; a missing shard counts 0. `no-stream`
 * when no shard exists, `no-group` when no shard has the group.
 */
export function combineShardBacklogs(stream: string, group: string, parts: readonly BacklogResult[]): BacklogResult {
  const existing = parts.filter((p) => p.status !== 'no-stream');
  if (existing.length === 0) return { status: 'no-stream' };
  const withGroup = existing.filter((p): p is Extract<BacklogResult, { status: 'ok' }> => p.status === 'ok');
  if (withGroup.length === 0) {
    let streamLength = 0;
    let lagSeconds = 0;
    for (const p of existing) if (p.status === 'no-group') {
      streamLength += p.streamLength;
      lagSeconds = Math.max(lagSeconds, p.lagSeconds);
    }
    return { status: 'no-group', streamLength, lagSeconds };
  }
  const b: GroupBacklog = { stream, group, streamLength: 0, lag: 0, lagEstimated: false, lagSeconds: 0, pending: 0, oldestPendingSeconds: 0, outstanding: 0, consumers: 0 };
  for (const p of existing) {
    if (p.status === 'no-group') {
      b.streamLength += p.streamLength;
      b.lag += p.streamLength;
      b.outstanding += p.streamLength;
      b.lagSeconds = Math.max(b.lagSeconds, p.lagSeconds);
    } else if (p.status === 'ok') {
      const x = p.backlog;
      b.streamLength += x.streamLength;
      b.lag += x.lag;
      b.lagEstimated ||= x.lagEstimated;
      b.lagSeconds = Math.max(b.lagSeconds, x.lagSeconds);
      b.pending += x.pending;
      b.oldestPendingSeconds = Math.max(b.oldestPendingSeconds, x.oldestPendingSeconds);
      b.outstanding += x.outstanding;
      b.consumers = Math.max(b.consumers, x.consumers);
    }
  }
  return { status: 'ok', backlog: b };
}

/**
 * A group's backlog over every shard of `stream` ({@link readGroupBacklog} per shard key, in parallel:
 * in Redis Cluster each read goes to its shard's node). `shards` 1, or a shard key itself (`S{2}`),
 * reads that one key.
 */
export async function readShardedBacklog(redis: RedisConnection, stream: string, group: string, shards: number, nowMs?: number, countLimit = DEFAULT_COUNT_LIMIT): Promise<BacklogResult> {
  if (shards === 1 || parseShardKey(stream, shards)) return readGroupBacklog(redis, stream, group, nowMs, countLimit);
  const parts = await Promise.all(shardKeys(stream, shards).map((k) => readGroupBacklog(redis, k, group, nowMs, countLimit)));
  return combineShardBacklogs(stream, group, parts);
}
