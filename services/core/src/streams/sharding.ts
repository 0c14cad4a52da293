import { int, type CheckedVarSpec } from '../config';
import type { Env } from '../config';
import type { RedisSettings } from '../redis-settings';
import { MAX_STREAM_SHARDS, shardOf, type KeyMode } from './keys';
import type { StreamEvent } from './envelope';

/**
 * `STREAM_SHARDS`: the one definition of the variable the producer, the worker, the lag exporter and
 * the autoscaler read (docs/design.md, "Redis keys"). 1 = no sharding (the stream is one key).
 */
export function streamShardsSpec(): CheckedVarSpec<number> {
  return int('STREAM_SHARDS', {
    description: 'Shards of each stream: N > 1 makes stream `S` the keys `S{0}` … `S{N-1}` (one Redis Cluster slot each); every service of a pool must use the same N',
    default: 1,
    min: 1,
    max: MAX_STREAM_SHARDS,
  });
}

/** The CloudEvents extension that names an event's partition key. */
export const PARTITION_KEY_EXTENSION = 'partitionkey';

/**
 * The partition key of an event: its `partitionkey` extension, else its `subject`, else undefined
 * (the producer then spreads such events round robin).
 */
export function partitionKeyOf(e: Pick<StreamEvent, 'subject' | 'extensions'>): string | undefined {
  const ext = e.extensions?.[PARTITION_KEY_EXTENSION];
  if (ext !== undefined && ext !== null && String(ext) !== '') return String(ext);
  return e.subject !== undefined && e.subject !== '' ? e.subject : undefined;
}

/**
 * Picks shards for events: by the stable hash of the partition key ({@link shardOf}), so one key keeps
 * its order within its shard. An event without a partition key but with its own id goes by
 * `source`+`id` (a resend must reach the shard that holds its idempotency marker); the rest (no key,
 * generated id) round robin.
 */
export class ShardPicker {
  private next = 0;

  constructor(
    /** Shards of the stream (1: always shard 0). */
    readonly shards: number,
  ) {}

  /** The shard index for an event; `clientId`: the event carries its own id (it may be resent). */
  pick(e: Pick<StreamEvent, 'subject' | 'extensions' | 'source' | 'id'>, clientId: boolean): number {
    if (this.shards === 1) return 0;
    const key = partitionKeyOf(e);
    if (key !== undefined) return shardOf(key, this.shards);
    if (clientId) return shardOf(`${e.source}\u0000${e.id}`, this.shards);
    const i = this.next;
    this.next = (i + 1) % this.shards;
    return i;
  }
}

/**
 * The key naming for a connection: Redis Cluster when its settings (core `RedisSettings`) are a
 * cluster, or, for an environment not parsed yet (a variable's default), when `REDIS_CLUSTER_NODES`
 * is set (the parser refuses it beside REDIS_URL or REDIS_SENTINELS, so the two agree).
 */
export function keyModeOf(from: Env | RedisSettings): KeyMode {
  if (isSettings(from)) return { cluster: from.topology.kind === 'cluster' };
  return { cluster: ((from as Env).REDIS_CLUSTER_NODES?.trim() ?? '') !== '' };
}

function isSettings(x: Env | RedisSettings): x is RedisSettings {
  const t = (x as { topology?: unknown }).topology;
  return typeof t === 'object' && t !== null;
}
