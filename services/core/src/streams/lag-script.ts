/** The backlog read by the read-only Lua script (lua/backlogs.lua) on an ioredis connection. */
import type { RedisConnection } from '../redis';
import { isReplyError, isScriptRefused } from '../redis-errors';
import { LuaScript } from '../lua';
import { ioredisTransport, readAllBacklogsOver } from './lag-commands';
import { DEFAULT_COUNT_LIMIT, buildGroupBacklog, idAgeSeconds, type GroupBacklog, type GroupInfo, type GroupPosition, type ReadAllBacklogsOptions, type ScanSummary, type StreamBacklogs, type StreamInfo } from './lag-model';

/**
 * Every group of many streams at once on an ioredis connection: Lua scripts, one round trip (`auto`,
 * the default), or plain commands ({@link readAllBacklogsOver}; with `mode: 'commands'` and where the
 * script is refused, for the streams not read yet). Streams that are missing or not streams (deleted
 * or replaced between discovery and read) are left out. Throws on connection errors.
 */
export async function readAllBacklogs(redis: RedisConnection, streams: string[], opts: ReadAllBacklogsOptions = {}): Promise<StreamBacklogs[]> {
  if (streams.length === 0) return [];
  if ((opts.mode ?? 'auto') === 'auto' && !NO_SCRIPT.has(redis)) return readAllByScript(redis, streams, opts);
  return readAllBacklogsOver(ioredisTransport(redis), streams, opts);
}

/**
 * Streams per script call (`readAllByScript`): the calls are pipelined, so Redis runs one
 * while the replies of the one before are decoded; 16 streams of a few groups keep one call well
 * under a millisecond of Redis time (other clients never wait longer than that for a scrape).
 */
export const SCRIPT_BATCH = 16;

/** The read-only backlog script: its reply format is described in lua/backlogs.lua. */
const BACKLOG_SCRIPT = new LuaScript('backlogs');

/** Clients whose server refuses the script (NOPERM, no `(` ranges before Redis 6.2, scripting disabled). */
const NO_SCRIPT = new WeakSet<RedisConnection>();

/** `u` (no such field: Redis < 7) → undefined, `n` (NULL) → null, else the number. */
function countField(v: string | undefined): number | null | undefined {
  if (v === 'u') return undefined;
  if (v === 'n' || v === undefined) return null;
  return Number(v);
}

/** Decodes the script's reply for the streams of one call (see {@link BACKLOG_SCRIPT}). */
function decodeScriptReply(reply: unknown, streams: string[], now: number, countLimit: number, out: StreamBacklogs[]): void {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from the backlog script');
  let at = 0;
  for (const stream of streams) {
    const head = reply[at++];
    if (head === '-') continue; // missing, or not a stream
    const f = String(head).split(' ');
    const length = Number(f[0]);
    const first = f[1] || null;
    const last = f[2] || null;
    const ng = Number(f[3]);
    // lastEntryId is only read when a count reached the limit (the extrapolation): the script fetches it then.
    const info: StreamInfo = { length, firstEntryId: first, lastEntryId: last, entriesAdded: undefined };
    const groups = new Array<GroupBacklog>(ng);
    for (let g = 0, o = 4; g < ng; g++, o += 10) {
      const group: GroupInfo = {
        name: String(reply[at++]),
        consumers: Number(f[o]),
        pending: Number(f[o + 1]),
        lastDeliveredId: f[o + 2]!,
        entriesRead: countField(f[o + 3]),
        lag: countField(f[o + 4]),
      };
      const pos = f[o + 5];
      const count = Number(f[o + 7]);
      const scanned: ScanSummary | undefined = count >= 0 ? { count, firstId: f[o + 6] || null, lastId: f[o + 8] || null } : undefined;
      const position: GroupPosition = pos === '2' ? 'behind' : pos === '3' ? 'middle' : 'caught-up';
      groups[g] = buildGroupBacklog(stream, info, group, scanned, f[o + 9] || null, now, countLimit, position);
    }
    out.push({ stream, length, firstEntrySeconds: idAgeSeconds(first, now), groups });
  }
}

async function readAllByScript(redis: RedisConnection, streams: string[], opts: ReadAllBacklogsOptions): Promise<StreamBacklogs[]> {
  const countLimit = Math.max(1, opts.countLimit ?? DEFAULT_COUNT_LIMIT);
  const wanted = opts.groups && opts.groups.length > 0 ? opts.groups : [];
  // Every call is sent at once (one write each, no waiting in between), and each reply is decoded as
  // it arrives while Redis runs the next call: not a pipeline, whose replies come back all together.
  const calls: Array<Promise<unknown>> = [];
  for (let i = 0; i < streams.length; i += SCRIPT_BATCH) {
    const keys = streams.slice(i, i + SCRIPT_BATCH);
    const call = BACKLOG_SCRIPT.run(redis, keys, [countLimit, ...wanted]);
    call.catch(() => undefined); // awaited in order below; a failure before its turn must not go unhandled
    calls.push(call);
  }
  const out: StreamBacklogs[] = [];
  for (let b = 0; b < calls.length; b++) {
    const keys = streams.slice(b * SCRIPT_BATCH, (b + 1) * SCRIPT_BATCH);
    let reply: unknown;
    try {
      reply = await calls[b];
    } catch (err) {
      if (!isReplyError(err)) throw err; // connection failure
      if (isScriptRefused(err)) NO_SCRIPT.add(redis);
      // The script is refused here: the streams not read yet are read with plain commands.
      const rest = await readAllBacklogsOver(ioredisTransport(redis), streams.slice(b * SCRIPT_BATCH), opts);
      for (const st of rest) out.push(st);
      return out;
    }
    const part: StreamBacklogs[] = [];
    decodeScriptReply(reply, keys, opts.nowMs ?? Date.now(), countLimit, part);
    opts.onStreams?.(part);
    out.push(...part);
  }
  return out;
}
