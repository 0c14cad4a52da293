/**
 * The pool's totals of sharded streams (`STREAM_SHARDS`): the exporter reports each shard key as a
 * stream of its own (`stream="S{3}"`) and, beside them, one series per sharded stream and group summed
 * over its shards (`stream="S"`), the figure a pool that reads every shard is scaled on. Names in
 * docs/design.md ("Metrics").
 */
import { combineShardBacklogs, parseShardKey, type GroupBacklog, type StreamBacklogs } from '@stream-workers/core';

/** One sharded stream's totals. */
export interface ShardedTotals {
  /** The stream's name (without the shard suffix). */
  stream: string;
  /** Shards found in this scrape. */
  shards: number;
  /** Entries over every shard. */
  length: number;
  /** Per group, the backlog summed over the shards (core `combineShardBacklogs`). */
  groups: GroupBacklog[];
}

/** The totals of every sharded stream among a scrape's streams (none when `shards` is 1). */
export function shardedTotals(streams: readonly StreamBacklogs[], shards: number): ShardedTotals[] {
  if (shards <= 1) return [];
  const byBase = new Map<string, StreamBacklogs[]>();
  for (const st of streams) {
    const p = parseShardKey(st.stream, shards);
    if (!p) continue;
    const list = byBase.get(p.stream);
    if (list) list.push(st);
    else byBase.set(p.stream, [st]);
  }
  const out: ShardedTotals[] = [];
  for (const [stream, parts] of [...byBase].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const groupNames = [...new Set(parts.flatMap((p) => p.groups.map((g) => g.group)))].sort();
    const groups = groupNames.map((group) => {
      // A shard without the group counts its whole length (a worker has not created the group there yet).
      const r = combineShardBacklogs(stream, group, parts.map((p) => {
        const g = p.groups.find((x) => x.group === group);
        return g ? { status: 'ok' as const, backlog: g } : { status: 'no-group' as const, streamLength: p.length, lagSeconds: p.firstEntrySeconds };
      }));
      return r.status === 'ok' ? r.backlog : undefined;
    }).filter((g): g is GroupBacklog => g !== undefined);
    out.push({ stream, shards: parts.length, length: parts.reduce((a, p) => a + p.length, 0), groups });
  }
  return out;
}

/** The sharded families: name, help and value (every one labelled `stream`, the group ones also `group`). */
export const SHARDED_GROUP_METRICS: Array<{ name: string; help: string; value: (b: GroupBacklog) => number }> = [
  { name: 'sharded_group_outstanding', help: 'Entries waiting for the group over every shard of a sharded stream: lag + pending (the pool\'s autoscaling signal)', value: (b) => b.outstanding },
  { name: 'sharded_group_lag', help: 'Entries not yet delivered to the group, over every shard', value: (b) => b.lag },
  { name: 'sharded_group_pending', help: 'Entries delivered and not acknowledged, over every shard', value: (b) => b.pending },
  { name: 'sharded_group_lag_seconds', help: 'Age in seconds of the oldest undelivered entry of any shard; 0 when none', value: (b) => b.lagSeconds },
];
