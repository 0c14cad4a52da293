/**
 * Redis error replies recognised by their code, in one place. An error reply starts with its code
 * (`NOGROUP No such key…`, `BUSYGROUP…`, `WRONGTYPE…`, `NOPERM…`, `NOSCRIPT…`, `READONLY…`); ioredis
 * hands it over as a `ReplyError`, the project's own connections as an Error named `ReplyError`.
 * Where Redis answers only the generic code `ERR`, the few texts that tell cases apart are matched
 * here and nowhere else.
 */
import { ReplyError } from 'ioredis';

/** True for an error reply of Redis (as opposed to a connection failure, a timeout or a bug). */
export function isReplyError(err: unknown): err is Error {
  return err instanceof ReplyError || (err instanceof Error && err.name === 'ReplyError');
}

/**
 * The code of a Redis error reply: its first word (`NOGROUP`, `ERR`, …); for an error raised by
 * `redis.call` inside a script on Redis < 7 (`ERR Error running script … : NOGROUP …`), the inner
 * code. Undefined for anything that is not an error reply.
 */
export function redisErrorCode(err: unknown): string | undefined {
  if (!isReplyError(err)) return undefined;
  const code = /^([A-Z][A-Z0-9_]*)(?=\s|$)/.exec(err.message)?.[1];
  if (code === 'ERR') {
    const inner = /^ERR Error running script[^]*?: (?:@\w+:\d+: )?([A-Z][A-Z0-9_]*) /.exec(err.message)?.[1];
    if (inner && inner !== 'ERR') return inner;
  }
  return code;
}

/** `NOGROUP`: the stream or the consumer group does not exist (any more). */
export function isNoGroup(err: unknown): boolean {
  return redisErrorCode(err) === 'NOGROUP';
}

/** `BUSYGROUP`: XGROUP CREATE of a group that exists. */
export function isBusyGroup(err: unknown): boolean {
  return redisErrorCode(err) === 'BUSYGROUP';
}

/** `WRONGTYPE`: the key holds another type (not a stream). */
export function isWrongType(err: unknown): boolean {
  return redisErrorCode(err) === 'WRONGTYPE';
}

/** `READONLY`: the connection reached a replica (after a failover): reconnect to the new primary. */
export function isReadOnly(err: unknown): boolean {
  return redisErrorCode(err) === 'READONLY';
}

/** `ERR no such key` (XINFO of a missing key): Redis gives this case no code of its own. */
export function isNoSuchKey(err: unknown): boolean {
  return redisErrorCode(err) === 'ERR' && /\bno such key\b/i.test(err instanceof Error ? err.message : '');
}

/**
 * The server refuses to run a script: `NOPERM` (an ACL without scripting or a command the script
 * calls), scripting disabled or renamed away (`ERR unknown command`), a Redis before 6.2 that has
 * no exclusive ranges (`ERR Invalid stream ID`), or a command not allowed from scripts.
 */
export function isScriptRefused(err: unknown): boolean {
  const code = redisErrorCode(err);
  if (code === 'NOPERM') return true;
  return code === 'ERR' && /Invalid stream ID|unknown command|not allowed|disabled/i.test((err as Error).message);
}
