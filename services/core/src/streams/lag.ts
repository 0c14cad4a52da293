/**
 * The backlog of consumer groups, read at the moment it is asked for (no cache): how many entries
 * wait for a group (lag + pending = outstanding) and how old the oldest waiting ones are.
 *
 * Shared by the lag exporter (every stream and group of a scrape, {@link readAllBacklogsOver} on its
 * own connection, or {@link readAllBacklogs} on an ioredis one) and the autoscaler (one group,
 * {@link readGroupBacklog}). The cost of a read grows with the number of groups, never with the length
 * of a stream (except the bounded count below). The reads:
 *
 *   per stream: `XINFO STREAM` (length, first and last entry ids) and `XINFO GROUPS`
 *            (last-delivered-id, entries-read, lag, pending, consumers: the consumer count comes from
 *            here, never from `XINFO CONSUMERS`, so thousands of consumers cost nothing extra);
 *   per group, only what that does not answer: `XRANGE <after last-delivered-id> + COUNT 1`
 *            (the first undelivered entry: its id gives `lagSeconds`; only for a group inside the
 *            stream) and `XPENDING g - + 1` (the smallest pending id: `oldestPendingSeconds`; only
 *            when something is pending; never the XPENDING summary, whose size grows with consumers).
 *
 * Many streams at once ({@link readAllBacklogsOver}, the exporter's scrape): plain commands in two
 * pipelined rounds per {@link COMMANDS_BATCH} streams, the first (`XINFO STREAM`, `XINFO GROUPS`) in
 * `MULTI`/`EXEC`, every first round sent at once and each second round as soon as its first is in, over
 * any {@link BacklogTransport} (the exporter's own RESP connection decodes the replies for a fraction of
 * what ioredis costs). `readAllBacklogs` on an ioredis connection runs read-only Lua scripts instead
 * (one round trip, {@link SCRIPT_BATCH} streams per call, atomic, only ids and numbers travel: fewer
 * values to decode, more Redis time), and the same plain commands where scripts are refused (ACL
 * without EVALSHA, Redis < 6.2 without exclusive ranges) or with `mode: 'commands'`.
 * `readGroupBacklog` reads one group with plain commands (its first round includes the XPENDING).

 * ## Where the lag comes from, and when it is estimated
 * Redis ≥ 7 reports a group's `lag` in `XINFO GROUPS`. It is trusted only when it is consistent with
 * what `XINFO STREAM` shows about the stream, because Redis reports NULL in some cases and a wrong number in
 * others (7.0 counts entries removed by `XTRIM` as lag: 10 entries, 3 read, trimmed to 0 → lag 7):
 *
 * | group position (last-delivered-id L)   | true lag                     | Redis lag is exact when |
 * | -------------------------------------- | ---------------------------- | ----------------------- |
 * | stream empty, or L ≥ last entry id     | 0 (nothing after L exists)   | it is 0                 |
 * | L < first entry id (behind, or trimmed past L) | the stream length    | it equals the length    |
 * | first ≤ L < last entry id (middle)     | entries in (L, +]            | 1 ≤ lag ≤ length − 1    |
 *
 * In the first two rows the lag follows from `XINFO STREAM` alone. In the middle row, when Redis gives NULL
 * (`XDEL` inside the unread range, a group created or moved to an id inside the stream), no field
 * (Redis < 7) or an impossible number, the entries after L are counted with
 * `XRANGE <after L> + COUNT countLimit`: fewer than `countLimit` is the exact count; otherwise the
 * remainder past the last counted entry is interpolated from the stream's id-time density
 * (length / (last ms − first ms) × (last ms − last counted ms)), clamped to
 * [countLimit, length − 1] and to `entries-added − entries-read` when Redis gives both.
 * Whenever Redis did not give an exact lag, `lagEstimated` is true (even where the figure above is in
 * fact exact): the flag says where the number came from. A lag is never reported as 0 while an entry
 * after L exists.
 */
import type Redis from 'ioredis';
import { ReplyError } from 'ioredis';
import { LuaScript } from '../lua';
import { compareEntryIds, entryIdMs } from './keys';

export interface GroupBacklog {
  stream: string;
  group: string;
  streamLength: number;
  /** Entries not yet delivered to the group (exact when Redis gives it). */
  lag: number;
  /** True when Redis reported no exact lag (NULL lag, Redis < 7, an impossible lag) and it was computed or estimated here. */
  lagEstimated: boolean;
  /** Age in seconds of the oldest undelivered entry, from its id; 0 when none. */
  lagSeconds: number;
  /** Delivered, not acknowledged. */
  pending: number;
  /** Age in seconds of the smallest pending id; 0 when none. */
  oldestPendingSeconds: number;
  /** lag + pending: the autoscaling signal. */
  outstanding: number;
  consumers: number;
}

export type BacklogResult =
  | { status: 'ok'; backlog: GroupBacklog }
  /** The stream does not exist: 0 outstanding. */
  | { status: 'no-stream' }
  /** The group does not exist: the whole stream counts (`lagSeconds`: age of the first entry). */
  | { status: 'no-group'; streamLength: number; lagSeconds: number };

/** The backlog of one stream and its groups (as filtered), from {@link readAllBacklogs}. */
export interface StreamBacklogs {
  stream: string;
  length: number;
  /** Age in seconds of the stream's first entry; 0 when empty. */
  firstEntrySeconds: number;
  groups: GroupBacklog[];
}

/** Options of {@link readAllBacklogs}. */
export interface ReadAllBacklogsOptions {
  /** Only these groups (exact names); default all. */
  groups?: string[];
  /** The clock in ms (tests); default `Date.now()` once the replies are in. */
  nowMs?: number;
  /** Most entries counted per group when Redis gives no exact lag; default {@link DEFAULT_COUNT_LIMIT}. */
  countLimit?: number;
  /**
   * For {@link readAllBacklogs}: `auto` (default): read-only Lua scripts (`EVALSHA`, one round trip, only
   * ids and counts travel), falling back to `commands` where scripts are refused (ACL without EVALSHA,
   * Redis < 6.2); `commands`: plain pipelined commands in two rounds ({@link readAllBacklogsOver}).
   */
  mode?: 'auto' | 'commands';
  /**
   * Called with each part of the result as soon as it is read, in stream order (the script reads
   * {@link SCRIPT_BATCH} streams per call, and the caller can work on one part while Redis reads the
   * next); the parts together are what the returned promise resolves to. When the read fails, the
   * parts delivered so far must be dropped with it.
   */
  onStreams?: (part: StreamBacklogs[]) => void;
}

/** Default cap of the entries counted for one group whose lag must be estimated. */
export const DEFAULT_COUNT_LIMIT = 100;

/** What `XINFO STREAM` says (the parts used here). */
export interface StreamInfo {
  length: number;
  firstEntryId: string | null;
  lastEntryId: string | null;
  /** `entries-added` (Redis ≥ 7), else undefined. */
  entriesAdded: number | undefined;
}

/** One group of `XINFO GROUPS`. `undefined`: the field is absent (Redis < 7); `null`: Redis sent NULL. */
export interface GroupInfo {
  name: string;
  consumers: number;
  pending: number;
  lastDeliveredId: string;
  entriesRead: number | null | undefined;
  lag: number | null | undefined;
}

/** Where a group stands relative to the stream's entries. */
export type GroupPosition = 'caught-up' | 'behind' | 'middle';

// ---------------------------------------------------------------------------------------------
// Pure parts (tested without Redis).

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

/**
 * Compares two stream ids numerically: negative when a < b. Ids as Redis writes them (decimal, no
 * leading zeros) are compared as strings: the longer number is the larger, equal lengths compare
 * lexically; anything else goes through keys' `compareEntryIds` (BigInt), which is exact but slow.
 */
export function compareIds(a: string, b: string): number {
  const ad = a.indexOf('-');
  const bd = b.indexOf('-');
  if (ad <= 0 || bd <= 0 || (a.charCodeAt(0) === 48 && ad > 1) || (b.charCodeAt(0) === 48 && bd > 1) || (a.charCodeAt(ad + 1) === 48 && a.length - ad > 2) || (b.charCodeAt(bd + 1) === 48 && b.length - bd > 2)) {
    return compareEntryIds(a, b);
  }
  if (ad !== bd) return ad < bd ? -1 : 1;
  for (let i = 0; i < ad; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  const as = a.length - ad;
  const bs = b.length - bd;
  if (as !== bs) return as < bs ? -1 : 1;
  for (let i = ad + 1; i < a.length; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i - ad + bd);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Where the group's last-delivered-id stands: past the last entry, before the first, or inside. */
export function groupPosition(stream: StreamInfo, group: GroupInfo): GroupPosition {
  if (stream.length === 0 || stream.lastEntryId === null || stream.firstEntryId === null) return 'caught-up';
  if (compareIds(group.lastDeliveredId, stream.lastEntryId) >= 0) return 'caught-up';
  if (compareIds(group.lastDeliveredId, stream.firstEntryId) < 0) return 'behind';
  return 'middle';
}

/** True when Redis's lag is consistent with the group's position (see the module comment). */
export function redisLagIsExact(stream: StreamInfo, group: GroupInfo, position = groupPosition(stream, group)): boolean {
  const lag = group.lag;
  if (typeof lag !== 'number') return false;
  switch (position) {
    case 'caught-up':
      return lag === 0;
    case 'behind':
      return lag === stream.length;
    case 'middle':
      return lag >= 1 && lag <= stream.length - 1;
  }
}

/**
 * How many entries after the last-delivered-id round 2 must read: 0 (round 1 answers everything),
 * 1 (only the first undelivered entry's id, for its age), or `countLimit` (count them: no exact lag).
 */
export function entriesToRead(stream: StreamInfo, group: GroupInfo, countLimit: number): number {
  if (groupPosition(stream, group) !== 'middle') return 0;
  return redisLagIsExact(stream, group) ? 1 : Math.max(1, countLimit);
}

/** The lag of a group and the id of its first undelivered entry. */
export interface LagFigure {
  lag: number;
  lagEstimated: boolean;
  /** Id of the oldest undelivered entry, or null when none. */
  firstUndeliveredId: string | null;
}

/**
 * The group's lag from round 1 (`stream`, `group`) and, for a group in the middle of the stream, the
 * ids round 2 read after its last-delivered-id (`scanned`, at most `countLimit` when counting).
 * Pure: this is the estimator, tested on replies of every Redis version.
 */
export function resolveLag(
  stream: StreamInfo,
  group: GroupInfo,
  scanned: Scanned | undefined,
  countLimit = DEFAULT_COUNT_LIMIT,
  position = groupPosition(stream, group),
): LagFigure {
  const exact = redisLagIsExact(stream, group, position);
  if (position === 'caught-up') return { lag: 0, lagEstimated: !exact, firstUndeliveredId: null };
  if (position === 'behind') return { lag: stream.length, lagEstimated: !exact, firstUndeliveredId: stream.firstEntryId };
  const scan = summarize(scanned);
  if (scan.count === 0 || scan.firstId === null || scan.lastId === null) {
    // The entries after the last-delivered-id vanished between the two rounds (trimmed or deleted).
    return { lag: 0, lagEstimated: true, firstUndeliveredId: null };
  }
  if (exact) return { lag: group.lag as number, lagEstimated: false, firstUndeliveredId: scan.firstId };
  const limit = Math.max(1, countLimit);
  if (scan.count < limit) return { lag: scan.count, lagEstimated: true, firstUndeliveredId: scan.firstId };
  return { lag: extrapolate(stream, group, scan.lastId, limit), lagEstimated: true, firstUndeliveredId: scan.firstId };
}

/** What was read after a group's last-delivered-id: the ids (`XRANGE`), or their count with the first and last (the script). */
export type Scanned = string[] | ScanSummary;
export interface ScanSummary {
  count: number;
  firstId: string | null;
  lastId: string | null;
}

function summarize(scanned: Scanned | undefined): ScanSummary {
  if (scanned === undefined) return { count: 0, firstId: null, lastId: null };
  if (!Array.isArray(scanned)) return scanned;
  return { count: scanned.length, firstId: scanned[0] ?? null, lastId: scanned[scanned.length - 1] ?? null };
}

/** `limit` entries were counted up to `lastCounted`; estimates the rest from the stream's id-time density. */
function extrapolate(stream: StreamInfo, group: GroupInfo, lastCounted: string, limit: number): number {
  const n = stream.length;
  const upper = n - 1; // the middle position has at least one entry at or before the last-delivered-id
  const firstMs = stream.firstEntryId === null ? NaN : entryIdMs(stream.firstEntryId);
  const lastMs = stream.lastEntryId === null ? NaN : entryIdMs(stream.lastEntryId);
  const countedMs = entryIdMs(lastCounted);
  let estimate: number;
  const span = lastMs - firstMs;
  if (!(span > 0) || !Number.isFinite(countedMs) || !Number.isFinite(span)) estimate = upper; // no time spread to interpolate on: conservative
  else estimate = limit + Math.round((n * Math.max(0, lastMs - countedMs)) / span);
  if (typeof stream.entriesAdded === 'number' && typeof group.entriesRead === 'number') {
    estimate = Math.min(estimate, stream.entriesAdded - group.entriesRead); // added after L, deleted ones included
  }
  return Math.min(upper, Math.max(limit, estimate));
}

/** Age in seconds of an entry id at `nowMs` (never negative: ids from the future read as 0). */
export function idAgeSeconds(id: string | null, nowMs: number): number {
  if (id === null) return 0;
  const ms = entryIdMs(id);
  if (!Number.isFinite(ms)) return 0;
  return Math.max(0, (nowMs - ms) / 1000);
}

/** The id right after `id` (an inclusive XRANGE start that works before Redis 6.2's exclusive `(`). */
export function nextEntryId(id: string): string {
  const dash = id.indexOf('-');
  // A sequence number of up to 15 digits is exact as a double (the common case, without BigInt).
  if (dash > 0 && id.length - dash - 1 <= 15 && /^\d+-\d+$/.test(id)) return `${id.slice(0, dash)}-${Number(id.slice(dash + 1)) + 1}`;
  const [ms = '0', seq = '0'] = id.split('-');
  const s = BigInt(seq);
  if (s === 0xffffffffffffffffn) return `${BigInt(ms) + 1n}-0`;
  return `${ms}-${s + 1n}`;
}

/** Assembles a group's backlog from both rounds. */
export function buildGroupBacklog(
  stream: string,
  info: StreamInfo,
  group: GroupInfo,
  scanned: Scanned | undefined,
  smallestPendingId: string | null,
  nowMs: number,
  countLimit = DEFAULT_COUNT_LIMIT,
  /** The group's position when the reader determined it (the script); default from `info`'s ids. */
  position?: GroupPosition,
): GroupBacklog {
  const figure = resolveLag(info, group, scanned, countLimit, position ?? groupPosition(info, group));
  const pending = Math.max(0, group.pending);
  return {
    stream,
    group: group.name,
    streamLength: info.length,
    lag: figure.lag,
    lagEstimated: figure.lagEstimated,
    lagSeconds: idAgeSeconds(figure.firstUndeliveredId, nowMs),
    pending,
    oldestPendingSeconds: pending > 0 ? idAgeSeconds(smallestPendingId, nowMs) : 0,
    outstanding: figure.lag + pending,
    consumers: group.consumers,
  };
}

// ---------------------------------------------------------------------------------------------
// Redis.

type PipelineResult = [Error | null, unknown];

/** A Redis error reply (per key: missing, wrong type, no group) vs a connection failure (thrown). */
function replyOf(r: PipelineResult | undefined): { ok: true; value: unknown } | { ok: false; error: Error } {
  if (!r) throw new Error('missing pipeline reply');
  const [err, value] = r;
  if (!err) return { ok: true, value };
  if (err instanceof ReplyError || (err as { name?: string }).name === 'ReplyError') return { ok: false, error: err };
  throw err;
}

async function exec(pipeline: ReturnType<Redis['pipeline']>): Promise<PipelineResult[]> {
  const results = await pipeline.exec();
  if (!results) throw new Error('pipeline aborted');
  return results as PipelineResult[];
}

function isNoSuchKey(err: Error): boolean {
  return /no such key/i.test(err.message);
}

function smallestPending(reply: unknown): string | null {
  return Array.isArray(reply) && Array.isArray(reply[0]) && typeof reply[0][0] === 'string' ? reply[0][0] : null;
}

function scannedIds(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map((e) => (Array.isArray(e) ? String(e[0]) : String(e))) : [];
}

/**
 * One group's backlog. Round 1 (`XINFO STREAM`, `XINFO GROUPS`, `XPENDING g - + 1`) is one round trip;
 * a second one (`XRANGE`) only when the group's last-delivered-id lies inside the stream.
 * `nowMs` for tests. Throws on connection errors and on a key that is not a stream.
 */
export async function readGroupBacklog(redis: Redis, stream: string, group: string, nowMs?: number, countLimit = DEFAULT_COUNT_LIMIT): Promise<BacklogResult> {
  const [sRes, gRes, pRes] = await exec(redis.pipeline().xinfo('STREAM', stream).xinfo('GROUPS', stream).xpending(stream, group, '-', '+', 1));
  const s = replyOf(sRes);
  if (!s.ok) {
    if (isNoSuchKey(s.error)) return { status: 'no-stream' };
    throw s.error;
  }
  const info = parseStreamInfo(s.value);
  const g = replyOf(gRes);
  if (!g.ok) {
    if (isNoSuchKey(g.error)) return { status: 'no-stream' }; // deleted between the two commands
    throw g.error;
  }
  const gi = parseGroupsInfo(g.value).find((x) => x.name === group);
  const noGroup = (): BacklogResult => ({ status: 'no-group', streamLength: info.length, lagSeconds: idAgeSeconds(info.firstEntryId, nowMs ?? Date.now()) });
  if (!gi) return noGroup();
  const p = replyOf(pRes);
  if (!p.ok) return noGroup(); // NOGROUP: deleted between the commands
  let scanned: string[] | undefined;
  const count = entriesToRead(info, gi, countLimit);
  if (count > 0) scanned = scannedIds(await redis.xrange(stream, nextEntryId(gi.lastDeliveredId), '+', 'COUNT', count));
  return { status: 'ok', backlog: buildGroupBacklog(stream, info, gi, scanned, smallestPending(p.value), nowMs ?? Date.now(), countLimit) };
}

/**
 * Every group of many streams at once on an ioredis connection: Lua scripts, one round trip (`auto`,
 * the default), or plain commands ({@link readAllBacklogsOver}; with `mode: 'commands'` and where the
 * script is refused, for the streams not read yet). Streams that are missing or not streams (deleted
 * or replaced between discovery and read) are left out. Throws on connection errors.
 */
export async function readAllBacklogs(redis: Redis, streams: string[], opts: ReadAllBacklogsOptions = {}): Promise<StreamBacklogs[]> {
  if (streams.length === 0) return [];
  if ((opts.mode ?? 'auto') === 'auto' && !NO_SCRIPT.has(redis)) return readAllByScript(redis, streams, opts);
  return readAllBacklogsOver(ioredisTransport(redis), streams, opts);
}

/**
 * Streams per script call ({@link readAllByScript}): the calls are pipelined, so Redis runs one
 * while the replies of the one before are decoded; 16 streams of a few groups keep one call well
 * under a millisecond of Redis time (other clients never wait longer than that for a scrape).
 */
export const SCRIPT_BATCH = 16;

/** The read-only backlog script: its reply format is described in lua/backlogs.lua. */
const BACKLOG_SCRIPT = new LuaScript('backlogs');

/** Clients whose server refuses the script (NOPERM, no `(` ranges before Redis 6.2, scripting disabled). */
const NO_SCRIPT = new WeakSet<Redis>();

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

async function readAllByScript(redis: Redis, streams: string[], opts: ReadAllBacklogsOptions): Promise<StreamBacklogs[]> {
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
      if (!(err instanceof ReplyError || (err as { name?: string }).name === 'ReplyError')) throw err; // connection failure
      if (/NOPERM|Invalid stream ID|unknown command|not allowed|disabled/i.test((err as Error).message)) NO_SCRIPT.add(redis);
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

/** One command for a {@link BacklogTransport}: its name and arguments. */
export type BacklogCommand = ReadonlyArray<string | number>;
/** One reply: `[error, undefined]` for a Redis error reply (an Error named `ReplyError`), else `[null, value]`. */
export type BacklogReply = [Error | null, unknown];

/**
 * How {@link readAllBacklogsOver} talks to Redis. `send` writes the commands pipelined and resolves
 * with their replies, in order, once all are in; it rejects on a connection failure (never on an
 * error reply). Inside an `EXEC` reply an error reply is an Error element. A transport may hand back
 * stream entries without their fields (`[id, null]`): only ids are used.
 */
export interface BacklogTransport {
  send(commands: BacklogCommand[]): Promise<BacklogReply[]>;
  /**
   * Optional: the sends between `cork()` and `uncork()` (called in the same tick) go out in one
   * write, at `uncork()` (the reader sends every first round that way).
   */
  cork?(): void;
  uncork?(): void;
  /** Set by the reader when `MULTI` was refused (an ACL without it): later reads do without. */
  multiRefused?: boolean;
}

const TRANSPORTS = new WeakMap<Redis, BacklogTransport>();

/** An ioredis connection as a {@link BacklogTransport} (one pipeline per `send`). */
export function ioredisTransport(redis: Redis): BacklogTransport {
  let t = TRANSPORTS.get(redis);
  if (!t) {
    t = {
      send: (commands) => {
        const p = redis.pipeline();
        for (const [name, ...args] of commands) p.call(String(name), ...args);
        return exec(p);
      },
    };
    TRANSPORTS.set(redis, t);
  }
  return t;
}

/** Streams per round-1 transaction of {@link readAllBacklogsOver}. */
export const COMMANDS_BATCH = 16;

/**
 * Every group of many streams with plain commands, in two pipelined rounds per {@link COMMANDS_BATCH}
 * streams: round 1 `XINFO STREAM` and `XINFO GROUPS` of each stream in one `MULTI`/`EXEC` (the length,
 * the first and last ids and every group's position and lag come from the same moment; without `MULTI`
 * where it is refused); round 2, sent as soon as its round 1 is in, `XRANGE` after the
 * last-delivered-id of the groups inside their stream ({@link entriesToRead}) and `XPENDING g - + 1`
 * for the groups with pending entries. Every round 1 is sent at once, so Redis never waits for the
 * client. Streams that are missing or not streams are left out; a group deleted before its round 2
 * is left out when that round asks for its pending entries (else it is reported as round 1 saw it).
 * Throws on connection errors and when a command is refused (`EXECABORT`: an ACL without it).
 */
export async function readAllBacklogsOver(transport: BacklogTransport, streams: string[], opts: ReadAllBacklogsOptions = {}): Promise<StreamBacklogs[]> {
  const parts: Array<Promise<StreamBacklogs[]>> = [];
  transport.cork?.();
  for (let i = 0; i < streams.length; i += COMMANDS_BATCH) {
    const keys = streams.slice(i, i + COMMANDS_BATCH);
    const atomic = !transport.multiRefused;
    const inner: BacklogCommand[] = [];
    for (const k of keys) inner.push(['XINFO', 'STREAM', k], ['XINFO', 'GROUPS', k]);
    const round1 = transport.send(atomic ? [['MULTI'], ...inner, ['EXEC']] : inner);
    const part = round1.then((replies) => secondRound(transport, keys, round1Replies(transport, replies, inner.length), opts));
    part.catch(() => undefined); // awaited in order below; a failure before its turn must not go unhandled
    parts.push(part);
  }
  transport.uncork?.();
  const out: StreamBacklogs[] = [];
  for (const p of parts) {
    const part = await p;
    opts.onStreams?.(part);
    for (const st of part) out.push(st);
  }
  return out;
}

/** The replies of round 1's inner commands, from `EXEC` (or directly, where `MULTI` was refused or not sent). */
function round1Replies(transport: BacklogTransport, replies: BacklogReply[], n: number): BacklogReply[] {
  if (replies.length === n) return replies;
  if (replies[0]?.[0]) {
    // MULTI refused: the commands ran on their own, and EXEC failed.
    transport.multiRefused = true;
    return replies.slice(1, n + 1);
  }
  const [err, value] = replies[n + 1] ?? [new Error('missing EXEC reply'), undefined];
  if (err) throw err; // EXECABORT: a command was refused when queued
  if (!Array.isArray(value) || value.length !== n) throw new Error('unexpected EXEC reply');
  return value.map((v): BacklogReply => (v instanceof Error ? [v, undefined] : [null, v]));
}

async function secondRound(transport: BacklogTransport, streams: string[], r1: BacklogReply[], opts: ReadAllBacklogsOptions): Promise<StreamBacklogs[]> {
  const countLimit = opts.countLimit ?? DEFAULT_COUNT_LIMIT;
  const wanted = opts.groups && opts.groups.length > 0 ? new Set(opts.groups) : undefined;
  interface Pending { info: StreamInfo; group: GroupInfo; scanAt: number; pendingAt: number }
  const found: Array<{ stream: string; info: StreamInfo; groups: Pending[] }> = [];
  const round2: BacklogCommand[] = [];
  streams.forEach((stream, i) => {
    const s = replyOf(r1[2 * i]);
    const g = replyOf(r1[2 * i + 1]);
    if (!s.ok || !g.ok) return; // gone, or not a stream
    const info = parseStreamInfo(s.value);
    const groups: Pending[] = [];
    for (const group of parseGroupsInfo(g.value)) {
      if (wanted && !wanted.has(group.name)) continue;
      const count = entriesToRead(info, group, countLimit);
      let scanAt = -1;
      let pendingAt = -1;
      if (count > 0) {
        scanAt = round2.length;
        round2.push(['XRANGE', stream, nextEntryId(group.lastDeliveredId), '+', 'COUNT', count]);
      }
      if (group.pending > 0) {
        pendingAt = round2.length;
        round2.push(['XPENDING', stream, group.name, '-', '+', 1]);
      }
      groups.push({ info, group, scanAt, pendingAt });
    }
    found.push({ stream, info, groups });
  });
  const r2 = round2.length > 0 ? await transport.send(round2) : [];
  const now = opts.nowMs ?? Date.now();

  return found.map(({ stream, info, groups }) => {
    const out: GroupBacklog[] = [];
    for (const p of groups) {
      let scanned: string[] | undefined;
      if (p.scanAt >= 0) {
        const r = replyOf(r2[p.scanAt]);
        if (!r.ok) continue; // the key changed type between the rounds
        scanned = scannedIds(r.value);
      }
      let smallest: string | null = null;
      if (p.pendingAt >= 0) {
        const r = replyOf(r2[p.pendingAt]);
        if (!r.ok) continue; // NOGROUP: the group (or stream) was deleted between the rounds
        smallest = smallestPending(r.value);
      }
      out.push(buildGroupBacklog(stream, info, p.group, scanned, smallest, now, countLimit));
    }
    return { stream, length: info.length, firstEntrySeconds: idAgeSeconds(info.firstEntryId, now), groups: out };
  });
}

const GLOB = /[*?[\]\\]/;

/**
 * Stream names for `patterns`: glob patterns via `SCAN 0 MATCH <pattern> TYPE stream COUNT 1000`
 * (Redis ≥ 6), plain names kept when they are streams (`TYPE`, pipelined). Sorted, without duplicates.
 */
export async function discoverStreams(redis: Redis, patterns: string[]): Promise<string[]> {
  const names = new Set<string>();
  const literals = patterns.filter((p) => !GLOB.test(p));
  for (const pattern of patterns.filter((p) => GLOB.test(p))) {
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = (await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream')) as [string, string[]];
      cursor = next;
      for (const k of keys) names.add(k);
      rounds += 1;
    } while (cursor !== '0' && rounds < 1_000_000);
  }
  if (literals.length > 0) {
    const p = redis.pipeline();
    for (const l of literals) p.type(l);
    const types = await exec(p);
    literals.forEach((l, i) => {
      const r = replyOf(types[i]);
      if (r.ok && r.value === 'stream') names.add(l);
    });
  }
  return [...names].sort();
}
