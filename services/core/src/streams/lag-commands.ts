/**
 * The backlog read with plain commands: many streams in two pipelined rounds over any
 * {@link BacklogTransport} ({@link readAllBacklogsOver}), or one group ({@link readGroupBacklog}).
 */
import type { RedisConnection } from '../redis';
import { DEFAULT_COUNT_LIMIT, buildGroupBacklog, entriesToRead, idAgeSeconds, nextEntryId, type BacklogResult, type GroupBacklog, type GroupInfo, type ReadAllBacklogsOptions, type StreamBacklogs, type StreamInfo } from './lag-model';
import { isNoSuchKey } from '../redis-errors';
import { exec, parseGroupsInfo, parseStreamInfo, replyOf, scannedIds, smallestPending } from './lag-replies';

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
  /** Sends the commands (pipelined) and resolves with their replies, in order. */
  send(commands: BacklogCommand[]): Promise<BacklogReply[]>;
  /**
   * Optional: the sends between `cork()` and `uncork()` (called in the same tick) go out in one
   * write, at `uncork()` (the reader sends every first round that way).
   */
  cork?(): void;
  /** Sends what was written since `cork()`, in one write. */
  uncork?(): void;
  /** Set by the reader when `MULTI` was refused (an ACL without it): later reads do without. */
  multiRefused?: boolean;
}

const TRANSPORTS = new WeakMap<RedisConnection, BacklogTransport>();

/** An ioredis connection as a {@link BacklogTransport} (one pipeline per `send`). */
export function ioredisTransport(redis: RedisConnection): BacklogTransport {
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

/**
 * One group's backlog. Round 1 (`XINFO STREAM`, `XINFO GROUPS`, `XPENDING g - + 1`) is one round trip;
 * a second one (`XRANGE`) only when the group's last-delivered-id lies inside the stream.
 * `nowMs` for tests. Throws on connection errors and on a key that is not a stream.
 */
export async function readGroupBacklog(redis: RedisConnection, stream: string, group: string, nowMs?: number, countLimit = DEFAULT_COUNT_LIMIT): Promise<BacklogResult> {
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
