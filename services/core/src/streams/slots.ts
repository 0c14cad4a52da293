import type { Cluster } from 'ioredis';
import slotOfKey from 'cluster-key-slot';
import type { RedisConnection } from '../redis';

/** True for an ioredis `Cluster` client. */
export function isClusterClient(redis: RedisConnection): redis is Cluster {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/** The Redis Cluster slot (0..16383) of `key` (CRC16 of the key or its hash tag; cluster-key-slot, as ioredis). */
export function keySlot(key: string): number {
  return slotOfKey(key);
}

/**
 * `keys` grouped by slot, in the order of their first key: what one multi-key command, pipeline or
 * script may touch in a cluster. On one server every key may go together: pass `cluster` false.
 */
export function groupBySlot(keys: readonly string[], cluster: boolean): string[][] {
  if (!cluster) return keys.length > 0 ? [[...keys]] : [];
  const bySlot = new Map<number, string[]>();
  for (const k of keys) {
    const s = keySlot(k);
    const list = bySlot.get(s);
    if (list) list.push(k);
    else bySlot.set(s, [k]);
  }
  return [...bySlot.values()];
}
