import type { RedisConnection } from '../redis';
import { LuaScript } from '../lua';
import type { RawEntry } from './consumer';

/** Owner-checked claims in one round trip: modes and reply in lua/owned-claim.lua. */
const CLAIM_LUA = new LuaScript('owned-claim');

/** Ids per script call: keeps Lua's unpack() far below its stack limit. */
const CHUNK = 500;

type Mode = 'fresh' | 'retry' | 'count' | 'handback';

async function ownedClaim<T>(redis: RedisConnection, stream: string, group: string, consumer: string, mode: Mode, ids: readonly string[], idleMs = 0): Promise<{ lost: string[]; out: T[] }> {
  const lost: string[] = [];
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const [l, o] = (await CLAIM_LUA.run(redis, [stream], [group, consumer, mode, idleMs, ...ids.slice(i, i + CHUNK)])) as [string[], T[]];
    lost.push(...l);
    out.push(...o);
  }
  return { lost, out };
}

/**
 * Keeps entries this consumer is still working on fresh: XCLAIM to itself with JUSTID (idle time reset,
 * no delivery counted) for those it still holds, as BullMQ extends its job locks. Call it well before
 * CLAIM_IDLE_MS passes. Returns the ids it no longer holds (acked, deleted or reclaimed by another).
 */
export async function keepFresh(redis: RedisConnection, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<string[]> {
  return (await ownedClaim<never>(redis, stream, group, consumer, 'fresh', ids)).lost;
}

/**
 * Claims entries this consumer still holds for another attempt (XCLAIM, which counts a delivery).
 * Returns the entries claimed (fields null for entries deleted from the stream) and the ids no longer held.
 */
export async function claimForRetry(redis: RedisConnection, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<{
  /** The entries claimed (fields null for entries deleted from the stream). */
  claimed: RawEntry[];
  /** The ids this consumer no longer holds (acked, deleted or reclaimed by another). */
  lost: string[];
}> {
  const { lost, out } = await ownedClaim<RawEntry>(redis, stream, group, consumer, 'retry', ids);
  return { claimed: out, lost };
}

/** Delivery counters of entries `consumer` holds (XPENDING); ids it does not hold are missing from the map. */
export async function deliveryCounts(redis: RedisConnection, stream: string, group: string, consumer: string, ids: readonly string[]): Promise<Map<string, number>> {
  const { out } = await ownedClaim<[string, number]>(redis, stream, group, consumer, 'count', ids);
  return new Map(out.map(([id, n]) => [id, Number(n)]));
}

/**
 * Hands entries back on shutdown: they stay pending for this consumer (nothing is lost) but are marked
 * idle for `idleMs` (use CLAIM_IDLE_MS), so the other workers' next XAUTOCLAIM takes them at once
 * instead of after CLAIM_IDLE_MS. Returns the ids this consumer no longer held.
 */
export async function handBack(redis: RedisConnection, stream: string, group: string, consumer: string, ids: readonly string[], idleMs: number): Promise<string[]> {
  return (await ownedClaim<never>(redis, stream, group, consumer, 'handback', ids, idleMs)).lost;
}

const DELETE_IF_IDLE_LUA = new LuaScript('delete-consumer-if-idle');

/**
 * Deletes `consumer` from the group only when it holds no pending entry (checked and deleted
 * atomically: XGROUP DELCONSUMER would drop pending entries with it). Resolves with the consumer's
 * pending count: 0 means it was deleted.
 */
export async function deleteConsumerIfIdle(redis: RedisConnection, stream: string, group: string, consumer: string): Promise<number> {
  return Number(await DELETE_IF_IDLE_LUA.run(redis, [stream], [group, consumer]));
}

/** What {@link claimIdle} returns. */
export interface IdleClaim {
  /** Cursor for the next call; `0-0` when the scan went round the whole pending list. */
  next: string;
  /** Entries now held by the claiming consumer (fields null: deleted from the stream). */
  entries: RawEntry[];
  /** Delivery counters of the claimed entries (this claim included). */
  deliveries: Map<string, number>;
}

/**
 * XAUTOCLAIM: takes over up to `count` entries of other consumers idle ≥ `minIdleMs` (never earlier),
 * starting at `cursor`, and looks up their delivery counters (which decide retry vs dead letter).
 */
export async function claimIdle(redis: RedisConnection, stream: string, group: string, consumer: string, minIdleMs: number, count: number, cursor = '0-0'): Promise<IdleClaim> {
  const [next, entries] = (await redis.xautoclaim(stream, group, consumer, minIdleMs, cursor, 'COUNT', count)) as [string, RawEntry[], string[]?];
  const deliveries = entries.length > 0 ? await deliveryCounts(redis, stream, group, consumer, entries.map(([id]) => id)) : new Map<string, number>();
  return { next, entries, deliveries };
}
