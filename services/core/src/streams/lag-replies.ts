/** Redis replies of the backlog reads, decoded (pure), and how an ioredis pipeline's results are read. */
import type { RedisConnection } from '../redis';
import { isReplyError } from '../redis-errors';
import type { GroupInfo, StreamInfo } from './lag-model';

function toInt(v: unknown): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function entryId(v: unknown): string | null {
  return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : null;
}

/** Parses an `XINFO STREAM` reply (RESP2 flat array). */
export function parseStreamInfo(reply: unknown): StreamInfo {
  const info: StreamInfo = { length: 0, firstEntryId: null, lastEntryId: null, entriesAdded: undefined };
  if (!Array.isArray(reply)) return info;
  // The flat key/value list read in place (no Map per reply: a scrape parses hundreds).
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const v = reply[i + 1];
    switch (reply[i]) {
      case 'length':
        info.length = toInt(v) ?? 0;
        break;
      case 'first-entry':
        info.firstEntryId = entryId(v);
        break;
      case 'last-entry':
        info.lastEntryId = entryId(v);
        break;
      case 'entries-added': {
        const added = toInt(v);
        info.entriesAdded = typeof added === 'number' ? added : undefined;
        break;
      }
    }
  }
  return info;
}

/** Parses an `XINFO GROUPS` reply; `entries-read`/`lag` stay `undefined` where absent (Redis < 7). */
export function parseGroupsInfo(reply: unknown): GroupInfo[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((g: unknown) => {
    const group: GroupInfo = { name: 'undefined', consumers: 0, pending: 0, lastDeliveredId: '0-0', entriesRead: undefined, lag: undefined };
    if (!Array.isArray(g)) return group;
    for (let i = 0; i + 1 < g.length; i += 2) {
      const v: unknown = g[i + 1];
      switch (g[i]) {
        case 'name':
          group.name = String(v);
          break;
        case 'consumers':
          group.consumers = toInt(v) ?? 0;
          break;
        case 'pending':
          group.pending = toInt(v) ?? 0;
          break;
        case 'last-delivered-id':
          group.lastDeliveredId = String(v ?? '0-0');
          break;
        case 'entries-read':
          group.entriesRead = toInt(v);
          break;
        case 'lag':
          group.lag = toInt(v);
          break;
      }
    }
    return group;
  });
}

export type PipelineResult = [Error | null, unknown];

/** A Redis error reply (per key: missing, wrong type, no group) vs a connection failure (thrown). */
export function replyOf(r: PipelineResult | undefined): { ok: true; value: unknown } | { ok: false; error: Error } {
  if (!r) throw new Error('missing pipeline reply');
  const [err, value] = r;
  if (!err) return { ok: true, value };
  if (isReplyError(err)) return { ok: false, error: err };
  throw err;
}

export async function exec(pipeline: ReturnType<RedisConnection['pipeline']>): Promise<PipelineResult[]> {
  const results = await pipeline.exec();
  if (!results) throw new Error('pipeline aborted');
  return results as PipelineResult[];
}


export function smallestPending(reply: unknown): string | null {
  return Array.isArray(reply) && Array.isArray(reply[0]) && typeof reply[0][0] === 'string' ? reply[0][0] : null;
}

export function scannedIds(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map((e) => (Array.isArray(e) ? String(e[0]) : String(e))) : [];
}
