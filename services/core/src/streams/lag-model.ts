/**
 * The lag model: what a group's backlog is, from what Redis replies (pure: no Redis here, tested on
 * replies of every Redis version). The readers (lag-commands.ts, lag-script.ts) fetch; this decides.
 *
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
