import type Redis from 'ioredis';
import { deadLetterKey } from '@stream-workers/core';
import { ledgerKey } from './handler';

/** What Redis itself says about the demo's stream, group, dead-letter stream and ledger. */
export interface RedisStats {
  /** XLEN of the stream (0 when missing). */
  length: number;
  /** `entries-added` of XINFO STREAM: every entry ever appended (0 when missing). */
  entriesAdded: number;
  /** The consumer group, when it exists. */
  group?: {
    /** `entries-read`: entries delivered to the group at least once (null when Redis cannot tell). */
    entriesRead: number | null;
    /** `lag`: entries not yet delivered (null when Redis cannot tell). */
    lag: number | null;
    /** Delivered, not acked. */
    pending: number;
    consumers: number;
  };
  /** XLEN of the dead-letter stream. */
  deadLetters: number;
  /** Distinct events in the handler's ledger. */
  processedUnique: number;
}

function pairs(reply: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (!Array.isArray(reply)) return m;
  for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  return m;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function isNoSuchKey(err: unknown): boolean {
  return err instanceof Error && /no such key|ERR no such/i.test(err.message);
}

/** Reads {@link RedisStats} in one round trip per command (XINFO needs Redis ≥ 7 for entries-read and lag). */
export async function readRedisStats(redis: Redis, stream: string, group: string): Promise<RedisStats> {
  const [info, groups] = await Promise.all([
    redis.xinfo('STREAM', stream).catch((err: unknown) => (isNoSuchKey(err) ? undefined : Promise.reject(err))),
    redis.xinfo('GROUPS', stream).catch((err: unknown) => (isNoSuchKey(err) ? [] : Promise.reject(err))),
  ]);
  const [deadLetters, processedUnique] = await Promise.all([redis.xlen(deadLetterKey(stream)), redis.hlen(ledgerKey(stream))]);
  const s = pairs(info);
  const stats: RedisStats = {
    length: Number(s.get('length') ?? 0),
    entriesAdded: Number(s.get('entries-added') ?? s.get('length') ?? 0),
    deadLetters,
    processedUnique,
  };
  for (const g of Array.isArray(groups) ? groups : []) {
    const m = pairs(g);
    if (String(m.get('name')) !== group) continue;
    stats.group = {
      entriesRead: num(m.get('entries-read')),
      lag: num(m.get('lag')),
      pending: Number(m.get('pending') ?? 0),
      consumers: Number(m.get('consumers') ?? 0),
    };
  }
  return stats;
}

/**
 * The ledger's totals: distinct events and all handler completions (their difference: duplicates).
 * HLEN and HVALS in one MULTI, so both describe the same moment.
 */
export async function readLedger(redis: Redis, stream: string): Promise<{ unique: number; completions: number }> {
  const res = await redis.multi().hlen(ledgerKey(stream)).hvals(ledgerKey(stream)).exec();
  if (!res) throw new Error('ledger read aborted');
  for (const [err] of res) if (err) throw err;
  const unique = Number(res[0]![1]);
  const completions = (res[1]![1] as string[]).reduce((s, v) => s + Number(v), 0);
  return { unique, completions };
}
