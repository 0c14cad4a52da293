import { isAscii } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type Redis from 'ioredis';
import { reconnectDelay } from '../redis';
import { HAS_SLICERS, encodeCommand, replyEnd, type SlicingBuffer } from '../resp';

/** One entry as Redis returns it; `fields` is null when the entry was deleted from the stream while pending. */
export type RawEntry = [id: string, fields: string[] | null];

/** Options of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS (as every connection of the project). */
  url: string;
  /** The stream read. */
  stream: string;
  /** The consumer group read in. */
  group: string;
  /** Consumer name (the pod name on Kubernetes). */
  consumer: string;
  /** XREADGROUP BLOCK for new entries, in ms. */
  blockMs: number;
  /**
   * A read with no reply this many ms after BLOCK ran out counts as wedged (a connection that died
   * without telling: a cut network, a blackholing proxy): the connection is dropped and the read
   * fails; the next read connects anew. Default 5000.
   */
  wedgeMarginMs?: number;
  /** Timeout of a connect attempt (TCP, TLS and the hello commands) in ms; default 5000. */
  connectTimeoutMs?: number;
  /** CLIENT SETNAME of the connection (visible in `CLIENT LIST`). */
  name?: string;
}

/** Thrown by {@link StreamConsumer.read} when a read got no reply in time; the connection was reset. */
export class WedgedReadError extends Error {
  constructor(ms: number) {
    super(`XREADGROUP got no reply within ${ms} ms; connection reset`);
    this.name = 'WedgedReadError';
  }
}

/** An error reply of Redis on the read connection (`NOGROUP …`, `NOPERM …`, `WRONGPASS …`). */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

/** True for a Redis `NOGROUP` error: the stream or the consumer group does not exist (any more). */
export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOGROUP');
}

/**
 * Creates the consumer group (with MKSTREAM) at `startId` (`0`: the whole stream, `$`: only new
 * entries). Resolves true when it created the group, false when it already existed.
 */
export async function createGroup(redis: Redis, stream: string, group: string, startId: string): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// RESP2, the few replies the read connection gets.

/** Thrown by the parsers when the buffer ends inside a reply: wait for more bytes. */
const INCOMPLETE = Symbol('incomplete');
const CR = 13;

/** A cursor over received bytes; every read checks the bounds and throws {@link INCOMPLETE} at the end. */
class Cursor {
  o = 0;
  constructor(readonly b: Buffer) {}

  /** An integer line (after the type byte) up to CRLF. */
  int(): number {
    const b = this.b;
    let o = this.o;
    let neg = false;
    if (b[o] === 45 /* - */) {
      neg = true;
      o++;
    }
    let n = 0;
    for (;;) {
      if (o >= b.length) throw INCOMPLETE;
      const c = b[o]!;
      if (c === CR) break;
      n = n * 10 + (c - 48);
      o++;
    }
    if (o + 1 >= b.length) throw INCOMPLETE;
    this.o = o + 2;
    return neg ? -n : n;
  }

  /** A simple line (`+OK`, `-ERR …`) after the type byte. */
  line(): string {
    const end = this.b.indexOf(CR, this.o);
    if (end < 0 || end + 1 >= this.b.length) throw INCOMPLETE;
    const s = this.b.toString('utf8', this.o, end);
    this.o = end + 2;
    return s;
  }

  type(): number {
    if (this.o >= this.b.length) throw INCOMPLETE;
    return this.b[this.o++]!;
  }

  /** Start and length of a bulk string's bytes (after `$<len>`), or -1 for a null bulk. */
  bulk(): number {
    const len = this.int();
    if (len < 0) return -1;
    if (this.o + len + 2 > this.b.length) throw INCOMPLETE;
    return len;
  }
}

/** Any RESP2 reply as JS values (strings, numbers, arrays, null; an error reply as a RedisReplyError). */
function parseGeneric(c: Cursor): unknown {
  const t = c.type();
  switch (t) {
    case 43: // +
      return c.line();
    case 45: // -
      return new RedisReplyError(c.line());
    case 58: // :
      return c.int();
    case 36: {
      // $
      const len = c.bulk();
      if (len < 0) return null;
      const s = c.b.toString('utf8', c.o, c.o + len);
      c.o += len + 2;
      return s;
    }
    case 42: {
      // *
      const n = c.int();
      if (n < 0) return null;
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = parseGeneric(c);
      return out;
    }
    default:
      throw new Error(`unexpected RESP type byte 0x${t.toString(16)}`);
  }
}

/**
 * Field names seen in replies, interned: a stream repeats the same few names in every entry, so
 * matching them by a byte compare saves a string allocation and a UTF-8 decode per field. Bounded:
 * names beyond the first 64 distinct ones are decoded normally.
 */
class FieldNames {
  private readonly byLength = new Map<number, Array<[Buffer, string]>>();
  private size = 0;

  /** The name last seen at each field position: entries of one stream mostly share a layout. */
  private readonly atPosition: Array<[Buffer, string] | undefined> = [];

  decode(b: Buffer, start: number, len: number, position: number): string {
    const hint = this.atPosition[position];
    if (hint !== undefined && hint[0].length === len) {
      const known = hint[0];
      let i = 0;
      while (i < len && known[i] === b[start + i]) i++;
      if (i === len) return hint[1];
    }
    const found = this.lookup(b, start, len);
    if (position < 64) this.atPosition[position] = found;
    return found[1];
  }

  private lookup(b: Buffer, start: number, len: number): [Buffer, string] {
    const candidates = this.byLength.get(len);
    if (candidates) {
      outer: for (const c of candidates) {
        const known = c[0];
        for (let i = 0; i < len; i++) if (known[i] !== b[start + i]) continue outer;
        return c;
      }
    }
    const found: [Buffer, string] = [Buffer.from(b.subarray(start, start + len)), b.toString('utf8', start, start + len)];
    if (this.size < 64 && len <= 64) {
      this.size += 1;
      if (candidates) candidates.push(found);
      else this.byLength.set(len, [found]);
    }
    return found;
  }
}

/**
 * An XREADGROUP reply for one stream, decoded straight from the received bytes into [id, fields]
 * (no intermediate Buffer per field, field names interned): `*-1` (BLOCK ran out) or an empty list
 * gives []; an error reply gives a RedisReplyError.
 */
function parseEntries(c: Cursor, names: FieldNames): RawEntry[] | RedisReplyError {
  const t = c.type();
  if (t === 45) return new RedisReplyError(c.line());
  if (t !== 42) throw new Error(`unexpected XREADGROUP reply type 0x${t.toString(16)}`);
  const streams = c.int();
  if (streams <= 0) return [];
  // *2 $<stream> *<n>
  if (c.type() !== 42) throw new Error('malformed XREADGROUP reply');
  c.int();
  if (c.type() !== 36) throw new Error('malformed XREADGROUP reply');
  const nameLen = c.bulk(); // (read before c.o is updated: `c.o += c.bulk()` would add to the old offset)
  c.o += nameLen + 2;
  if (c.type() !== 42) throw new Error('malformed XREADGROUP reply');
  const n = c.int();
  const out = new Array<RawEntry>(Math.max(0, n));
  const b = c.b;
  // Replies are mostly ASCII: then each value is copied as latin1 (a plain copy) instead of decoded
  // as UTF-8 through Buffer#toString's dispatch. (Substrings of one decoded reply would be cheaper
  // still, but every kept value would keep the whole reply alive: a handler that buffers events would
  // hold ~30 KB per event.)
  const sb = b as SlicingBuffer;
  const ascii = HAS_SLICERS && isAscii(b);
  for (let e = 0; e < n; e++) {
    if (c.type() !== 42) throw new Error('malformed XREADGROUP entry');
    c.int();
    if (c.type() !== 36) throw new Error('malformed XREADGROUP entry id');
    const idLen = c.bulk();
    const id = HAS_SLICERS ? sb.latin1Slice(c.o, c.o + idLen) : b.toString('latin1', c.o, c.o + idLen);
    c.o += idLen + 2;
    if (c.type() !== 42) throw new Error('malformed XREADGROUP entry fields');
    const nf = c.int();
    if (nf < 0) {
      out[e] = [id, null]; // deleted while pending
      continue;
    }
    const fields = new Array<string>(nf);
    for (let i = 0; i < nf; i++) {
      if (c.type() !== 36) throw new Error('malformed XREADGROUP field');
      const len = c.bulk();
      // Direct, monomorphic calls: this line runs 8+ times per event.
      if ((i & 1) === 0) fields[i] = names.decode(b, c.o, len, i >> 1);
      else if (ascii) fields[i] = sb.latin1Slice(c.o, c.o + len);
      else fields[i] = HAS_SLICERS ? sb.utf8Slice(c.o, c.o + len) : b.toString('utf8', c.o, c.o + len);
      c.o += len + 2;
    }
    out[e] = [id, fields];
  }
  return out;
}

interface Waiting {
  entries: boolean;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * The read side of a group consumer, on a connection of its own that speaks just the RESP2 it needs:
 * XREADGROUP replies are decoded straight from the socket's bytes into strings, the hottest path of a
 * worker (about twice as cheap as a general client's Buffer-per-field replies; see docs/benchmarks.md).
 * Reads this consumer's own pending entries (from a cursor, no BLOCK) or new entries (`>`, with BLOCK);
 * every read is guarded against a connection that stopped answering.
 *
 * Connection handling is deliberately simple: the connection is made on the first read (and after a
 * failure, on the next one; the caller's loop paces retries), with AUTH, SELECT and CLIENT SETNAME
 * from the URL; any error or close fails the reads in flight and drops the connection. Nothing is
 * ever re-sent by this class: an XREADGROUP whose reply was lost may have delivered entries, which
 * the caller finds again in its pending list.
 */
export class StreamConsumer {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly waiting: Waiting[] = [];
  /** Sockets already dropped: their late 'error'/'close' events change nothing. */
  private readonly dropped = new WeakSet<Socket>();
  private pendingBytes: Buffer | undefined;
  private readonly names = new FieldNames();
  private readonly wedgeMs: number;
  private readonly url: URL;
  private closed = false;
  private failures = 0;
  /** CLIENT ID of the current connection (for CLIENT UNBLOCK from another connection). */
  private clientId: number | undefined;

  constructor(private readonly o: StreamConsumerOptions) {
    this.wedgeMs = o.blockMs + (o.wedgeMarginMs ?? 5000);
    this.url = new URL(o.url);
    if (this.url.protocol !== 'redis:' && this.url.protocol !== 'rediss:') throw new Error(`unsupported Redis URL scheme ${this.url.protocol}`);
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Reads up to `count` entries: with `pendingFrom` set, this consumer's own pending entries after that
   * id (`0` for all; each read counts a delivery); else new entries, blocking up to `blockMs` unless
   * `block` is false (reads ahead while a backlog lasts). An empty array means nothing (more) to read.
   * Rejects on a Redis error reply (e.g. NOGROUP), a connection failure, or no reply in time
   * ({@link WedgedReadError}).
   */
  async read(count: number, pendingFrom?: string, block = true): Promise<RawEntry[]> {
    const args: (string | number)[] = ['XREADGROUP', 'GROUP', this.o.group, this.o.consumer, 'COUNT', count];
    if (pendingFrom === undefined && block) args.push('BLOCK', this.o.blockMs);
    args.push('STREAMS', this.o.stream, pendingFrom ?? '>');
    const socket = this.socket ?? (await this.connect());
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<RawEntry[]>((resolve, reject) => {
        timer = setTimeout(() => this.drop(socket, new WedgedReadError(this.wedgeMs)), this.wedgeMs);
        this.waiting.push({ entries: true, resolve: resolve as (v: unknown) => void, reject });
        socket.write(encodeCommand(args));
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends a read blocked right now (CLIENT UNBLOCK, sent on `via`, another connection): the read returns
   * empty, as if BLOCK ran out, so nothing it might have returned is lost. Never throws.
   */
  async unblock(via: Redis): Promise<void> {
    if (this.clientId === undefined || via.status !== 'ready') return;
    await via.client('UNBLOCK', this.clientId).catch(() => undefined);
  }

  /** Closes the connection; reads in flight fail. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.socket) this.drop(this.socket, new Error('stream consumer closed'));
  }

  private connect(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('stream consumer closed'));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    // A failed attempt right before: wait a little (the caller's loop backs off too; this keeps a
    // tight caller from hammering a server that refuses connections).
    if (this.failures > 0) await new Promise((r) => setTimeout(r, reconnectDelay(this.failures, 1000)));
    const u = this.url;
    const host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(u.port || 6379);
    const socket: Socket = u.protocol === 'rediss:' ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    const timeoutMs = this.o.connectTimeoutMs ?? 5000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
        socket.once(u.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('error', (err) => this.drop(socket, err));
      socket.on('close', () => this.drop(socket, new Error('connection closed')));
      this.socket = socket;
      // Hello: AUTH (ACL user from the URL), SELECT, CLIENT SETNAME, CLIENT ID, pipelined.
      const hello: Array<Array<string | number>> = [];
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      if (pass) hello.push(user ? ['AUTH', user, pass] : ['AUTH', pass]);
      const db = Number(u.pathname.replace(/^\//, '') || 0);
      if (Number.isInteger(db) && db > 0) hello.push(['SELECT', db]);
      if (this.o.name) hello.push(['CLIENT', 'SETNAME', this.o.name.replace(/\s/g, '_')]);
      hello.push(['CLIENT', 'ID']);
      let helloTimer: NodeJS.Timeout | undefined;
      const replies = await Promise.race([
        Promise.all(hello.map((cmd) => this.send(socket, cmd))),
        new Promise<never>((_, reject) => {
          helloTimer = setTimeout(() => reject(new Error(`redis did not answer the connection set-up within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(helloTimer)); // a pending timer would keep an embedding process alive after close()
      this.clientId = Number(replies[replies.length - 1]);
      this.failures = 0;
      return socket;
    } catch (err) {
      this.failures += 1;
      this.drop(socket, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  /** Sends one command whose reply is parsed generically (the hello commands). */
  private send(socket: Socket, args: Array<string | number>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ entries: false, resolve, reject });
      socket.write(encodeCommand(args));
    });
  }

  private onData(chunk: Buffer): void {
    let b = this.pendingBytes ? Buffer.concat([this.pendingBytes, chunk]) : chunk;
    this.pendingBytes = undefined;
    while (b.length > 0) {
      const w = this.waiting[0];
      if (!w) {
        // A reply nobody waits for: the stream is out of step; start over on a new connection.
        if (this.socket) this.drop(this.socket, new Error('unexpected reply on the read connection'));
        return;
      }
      // A reply of a batch often arrives in several chunks: decode it only once it is complete (a
      // scan without allocations), not once per chunk.
      const end = replyEnd(b);
      if (end < 0) {
        this.pendingBytes = b;
        return;
      }
      const c = new Cursor(end === b.length ? b : b.subarray(0, end));
      let reply: unknown;
      try {
        reply = w.entries ? parseEntries(c, this.names) : parseGeneric(c);
      } catch (err) {
        if (this.socket) this.drop(this.socket, err === INCOMPLETE ? new Error('malformed reply on the read connection') : err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.waiting.shift();
      b = b.subarray(end);
      if (reply instanceof RedisReplyError) w.reject(reply);
      else w.resolve(reply);
    }
  }

  /** Drops `socket` (if it is still the current one) and fails every reply still awaited on it. */
  private drop(socket: Socket, err: Error): void {
    if (this.dropped.has(socket)) return;
    this.dropped.add(socket);
    socket.destroy();
    if (this.socket !== socket && this.socket !== undefined) return;
    this.socket = undefined;
    this.clientId = undefined;
    this.pendingBytes = undefined;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
