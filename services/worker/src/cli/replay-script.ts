import type Redis from 'ioredis';
import { LuaScript } from '@stream-workers/core';

/** `services/core/lua/dlq-replay.lua`: one dead letter back to its origin stream and deleted, atomically. */
const REPLAY = new LuaScript('dlq-replay');

/**
 * Replays dead letters by id: one script call each, all sent at once (ioredis writes them back to back
 * on the connection: one round trip for the page). Resolves with the new entry id of each in the
 * origin stream, or null for one that was gone (replayed or purged meanwhile).
 */
export function replayMany(redis: Redis, dlq: string, origin: string, ids: readonly string[]): Promise<(string | null)[]> {
  return Promise.all(ids.map(async (id) => {
    const r = await REPLAY.run(redis, [dlq, origin], [id]);
    return typeof r === 'string' ? r : null;
  }));
}
