/**
 * The backlog of consumer groups, read at the moment it is asked for (no cache): how many entries
 * wait for a group (lag + pending = outstanding) and how old the oldest waiting ones are.
 *
 * Shared by the lag exporter (every stream and group of a scrape, {@link readAllBacklogs}) and the
 * autoscaler (one group, {@link readGroupBacklog}). The cost of a read grows with the number of
 * groups, never with the length of a stream (except the bounded count below). The reads:
 *
 *   per stream: `XINFO STREAM` (length, first and last entry ids) and `XINFO GROUPS`
 *            (last-delivered-id, entries-read, lag, pending, consumers: the consumer count comes from
 *            here, never from `XINFO CONSUMERS`, so thousands of consumers cost nothing extra);
 *   per group, only what that does not answer: `XRANGE <after last-delivered-id> + COUNT 1`
 *            (the first undelivered entry: its id gives `lagSeconds`; only for a group inside the
 *            stream) and `XPENDING g - + 1` (the smallest pending id: `oldestPendingSeconds`; only
 *            when something is pending; never the XPENDING summary, whose size grows with consumers).
 *
 * `readAllBacklogs` runs them as one read-only Lua script per stream, all pipelined: one round trip,
 * atomic per stream, only ids and numbers travel. Where scripts are refused (ACL without EVALSHA,
 * Redis < 6.2 without exclusive ranges) it falls back to plain commands in two pipelined round trips
 * (`mode: 'commands'`), as `readGroupBacklog` always does (its first round includes the XPENDING).

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
   * `auto` (default): one read-only Lua script per stream (`EVALSHA`, one round trip, only ids and
   * counts travel), falling back to `commands` where scripts are refused (ACL without EVALSHA, Redis
   * < 6.2); `commands`: plain pipelined commands in two round trips.
   */
  mode?: 'auto' | 'commands';
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

/** A flat `[key, value, ...]` reply as an object. */
function pairs(reply: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (!Array.isArray(reply)) return m;
  for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  return m;
}

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
  const m = pairs(reply);
  const added = toInt(m.get('entries-added'));
  return {
    length: toInt(m.get('length')) ?? 0,
    firstEntryId: entryId(m.get('first-entry')),
    lastEntryId: entryId(m.get('last-entry')),
    entriesAdded: typeof added === 'number' ? added : undefined,
  };
}

/** Parses an `XINFO GROUPS` reply; `entries-read`/`lag` stay `undefined` where absent (Redis < 7). */
export function parseGroupsInfo(reply: unknown): GroupInfo[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((g) => {
    const m = pairs(g);
    return {
      name: String(m.get('name')),
      consumers: toInt(m.get('consumers')) ?? 0,
      pending: toInt(m.get('pending')) ?? 0,
      lastDeliveredId: String(m.get('last-delivered-id') ?? '0-0'),
      entriesRead: m.has('entries-read') ? toInt(m.get('entries-read')) : undefined,
      lag: m.has('lag') ? toInt(m.get('lag')) : undefined,
    };
  });
}

/** Where the group's last-delivered-id stands: past the last entry, before the first, or inside. */
export function groupPosition(stream: StreamInfo, group: GroupInfo): GroupPosition {
  if (stream.length === 0 || stream.lastEntryId === null || stream.firstEntryId === null) return 'caught-up';
  if (compareEntryIds(group.lastDeliveredId, stream.lastEntryId) >= 0) return 'caught-up';
  if (compareEntryIds(group.lastDeliveredId, stream.firstEntryId) < 0) return 'behind';
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
 * Every group of many streams at once, for a scrape: two pipelined round trips in all (the second
 * only for groups that need it). Streams that are missing or not streams (deleted or replaced
 * between discovery and read) are left out; groups deleted between the rounds are left out.
 * Throws on connection errors.
 */
export async function readAllBacklogs(redis: Redis, streams: string[], opts: ReadAllBacklogsOptions = {}): Promise<StreamBacklogs[]> {
  if (streams.length === 0) return [];
  if ((opts.mode ?? 'auto') === 'auto' && !NO_SCRIPT.has(redis)) {
    const viaScript = await readAllByScript(redis, streams, opts);
    if (viaScript) return viaScript;
  }
  return readAllByCommands(redis, streams, opts);
}

/**
 * Per stream, atomically: TYPE, XLEN, the first entry's id, XINFO GROUPS, and per group only what its
 * position needs (the rules of {@link groupPosition}): a group before the first entry nothing; any
 * other reads the entries after its last-delivered-id (COUNT 1 when Redis' lag can be exact, else
 * the bounded count; none found = caught up); a group with pending entries its smallest pending id.
 * The last entry's id only when a count reached the limit. Returns only ids and numbers. Read-only.
 */
const BACKLOG_SCRIPT = `
local key = KEYS[1]
local limit = tonumber(ARGV[1])
if redis.call('TYPE', key)['ok'] ~= 'stream' then return false end
local len = redis.call('XLEN', key)
local first, last = false, false
-- The first entry's id split once into ms and seq (decimal strings: ids exceed Lua's 2^53 doubles, so they
-- are compared by length, then lexically).
local fml, fm, fsl, fs
if len > 0 then
  first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1][1]
  fm, fs = string.match(first, '^(%d+)-(%d+)$')
  fml, fsl = #fm, #fs
end
local wanted = nil
if #ARGV > 1 then
  wanted = {}
  for i = 2, #ARGV do wanted[ARGV[i]] = true end
end
local out = {}
local groups = redis.call('XINFO', 'GROUPS', key)
for gi = 1, #groups do
  local g = groups[gi]
  -- The fields by name (Redis < 7 has no entries-read and lag), without building a table per group.
  local name, consumers, pending, ld, er, lag, hasLag = nil, 0, 0, '0-0', false, false, 0
  for i = 1, #g, 2 do
    local k = g[i]
    if k == 'name' then name = g[i + 1]
    elseif k == 'consumers' then consumers = g[i + 1]
    elseif k == 'pending' then pending = g[i + 1]
    elseif k == 'last-delivered-id' then ld = g[i + 1]
    elseif k == 'entries-read' then er = g[i + 1]
    elseif k == 'lag' then lag = g[i + 1]; hasLag = 1
    end
  end
  if wanted == nil or wanted[name] then
    -- position: 1 caught up (nothing after ld), 2 behind (ld before the first entry), 3 middle
    local pos, firstU, count, lastC = 1, false, -1, false
    if len > 0 then
      local lm, ls = string.match(ld, '^(%d+)-(%d+)$')
      local behind
      if #lm ~= fml then behind = #lm < fml
      elseif lm ~= fm then behind = lm < fm
      elseif #ls ~= fsl then behind = #ls < fsl
      else behind = ls < fs end
      if behind then
        pos = 2
      else
        local n = limit
        if type(lag) == 'number' and lag >= 1 and lag <= len - 1 then n = 1 end
        local ids = redis.call('XRANGE', key, '(' .. ld, '+', 'COUNT', n)
        local c = #ids
        if c > 0 then
          pos = 3
          count = c
          firstU = ids[1][1]
          lastC = ids[c][1]
          if c >= limit and not last then last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1][1] end
        end
      end
    end
    local sp = false
    if pending > 0 then
      local p = redis.call('XPENDING', key, name, '-', '+', 1)
      if #p > 0 then sp = p[1][1] end
    end
    out[#out + 1] = { name, consumers, pending, ld, er, lag, hasLag, pos, firstU, count, lastC, sp }
  end
end
return { len, first, last, out }
`;

const SCRIPT_COMMAND = 'streamWorkersBacklog';
/** Clients whose server refuses the script (NOPERM, no `(` ranges before Redis 6.2, scripting disabled). */
const NO_SCRIPT = new WeakSet<Redis>();

type ScriptClient = { [SCRIPT_COMMAND]: (...args: Array<string | number>) => Promise<unknown> };

function numOrNull(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}
function strOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

async function readAllByScript(redis: Redis, streams: string[], opts: ReadAllBacklogsOptions): Promise<StreamBacklogs[] | undefined> {
  const countLimit = Math.max(1, opts.countLimit ?? DEFAULT_COUNT_LIMIT);
  if (typeof (redis as unknown as Partial<ScriptClient>)[SCRIPT_COMMAND] !== 'function') {
    redis.defineCommand(SCRIPT_COMMAND, { numberOfKeys: 1, lua: BACKLOG_SCRIPT });
  }
  const wanted = opts.groups && opts.groups.length > 0 ? opts.groups : [];
  const pipeline = redis.pipeline();
  for (const s of streams) (pipeline as unknown as ScriptClient)[SCRIPT_COMMAND](s, countLimit, ...wanted);
  const results = await exec(pipeline);
  const now = opts.nowMs ?? Date.now();
  const out: StreamBacklogs[] = [];
  for (let i = 0; i < streams.length; i++) {
    const r = replyOf(results[i]);
    if (!r.ok) {
      if (/NOPERM|Invalid stream ID|unknown command|not allowed|disabled/i.test(r.error.message)) NO_SCRIPT.add(redis);
      return undefined; // this read falls back to plain commands
    }
    if (!Array.isArray(r.value)) continue; // missing, or not a stream
    const [length, first, last, groups] = r.value as [number, unknown, unknown, unknown[][]];
    // lastEntryId is only read when a count reached the limit (the extrapolation): the script fetches it then.
    const info: StreamInfo = { length, firstEntryId: strOrNull(first), lastEntryId: strOrNull(last), entriesAdded: undefined };
    const backlogs = groups.map((g) => {
      const [name, consumers, pending, ld, er, lag, hasLag, pos, firstU, count, lastC, sp] = g;
      const group: GroupInfo = {
        name: String(name),
        consumers: Number(consumers),
        pending: Number(pending),
        lastDeliveredId: String(ld),
        entriesRead: numOrNull(er),
        lag: hasLag === 0 ? undefined : numOrNull(lag),
      };
      const scanned: ScanSummary | undefined = (count as number) >= 0 ? { count: count as number, firstId: strOrNull(firstU), lastId: strOrNull(lastC) } : undefined;
      const position: GroupPosition = pos === 2 ? 'behind' : pos === 3 ? 'middle' : 'caught-up';
      return buildGroupBacklog(streams[i]!, info, group, scanned, strOrNull(sp), now, countLimit, position);
    });
    out.push({ stream: streams[i]!, length, firstEntrySeconds: idAgeSeconds(info.firstEntryId, now), groups: backlogs });
  }
  return out;
}

async function readAllByCommands(redis: Redis, streams: string[], opts: ReadAllBacklogsOptions): Promise<StreamBacklogs[]> {
  const countLimit = opts.countLimit ?? DEFAULT_COUNT_LIMIT;
  const wanted = opts.groups && opts.groups.length > 0 ? new Set(opts.groups) : undefined;
  const round1 = redis.pipeline();
  for (const s of streams) round1.xinfo('STREAM', s).xinfo('GROUPS', s);
  const r1 = await exec(round1);

  interface Pending { stream: string; info: StreamInfo; group: GroupInfo; scanAt: number; pendingAt: number }
  const found: Array<{ stream: string; info: StreamInfo; groups: Pending[] }> = [];
  const round2 = redis.pipeline();
  let queued = 0;
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
        round2.xrange(stream, nextEntryId(group.lastDeliveredId), '+', 'COUNT', count);
        scanAt = queued++;
      }
      if (group.pending > 0) {
        round2.xpending(stream, group.name, '-', '+', 1);
        pendingAt = queued++;
      }
      groups.push({ stream, info, group, scanAt, pendingAt });
    }
    found.push({ stream, info, groups });
  });
  const r2 = queued > 0 ? await exec(round2) : [];
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
