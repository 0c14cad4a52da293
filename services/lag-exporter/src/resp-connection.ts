/**
 * The scrape's own Redis connection: RESP2 spoken directly over a socket, for the few commands a scrape
 * sends (core `readAllBacklogsOver`). A scrape of many streams is thousands of reply values, and
 * decoding them is most of what it costs the exporter; here a reply is decoded in one pass from the
 * received bytes, and the fields of stream entries (`XRANGE`, `XINFO STREAM`'s first and last entry) are
 * skipped without being decoded: only their ids are used. ioredis decodes every value into a Buffer,
 * then a string, which costs about three times as much for the same reply.
 *
 * Deliberately simple: the connection is made on the first `send` (and again on the next one after a
 * failure), with AUTH, SELECT and CLIENT SETNAME as configured; any error or close fails the commands
 * in flight and drops the connection; nothing is ever re-sent. The caller bounds each read with its own
 * deadline and calls {@link RespConnection.reset} when it gives up on one.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type Redis from 'ioredis';
import { encodeCommand, replyEnd, utf8Slice, type BacklogCommand, type BacklogReply, type BacklogTransport } from '@stream-workers/core';

/** Where and how to connect. */
export interface RespConnectionOptions {
  host: string;
  port: number;
  /** A Unix socket path instead of host and port. */
  path?: string;
  /** ACL user (AUTH <username> <password>); without it, AUTH <password>. */
  username?: string;
  password?: string;
  /** SELECT when not 0. */
  db?: number;
  /** TLS options (`rediss://`); undefined: plain TCP. */
  tls?: ConnectionOptions;
  /** CLIENT SETNAME (shown by CLIENT LIST); an error reply to it is ignored. */
  name?: string;
  /** Timeout of the TCP (and TLS) connect and of the hello commands in ms; default 5000. */
  connectTimeoutMs?: number;
}

/**
 * The options of an ioredis client made by core `createRedis` (host, port or Unix path, ACL user,
 * password, db, TLS), for a second connection to the same server; undefined for what this connection
 * cannot follow (Sentinel, Cluster).
 */
export function respOptionsOf(redis: Redis, name?: string): RespConnectionOptions | undefined {
  const o = redis.options as Omit<Redis['options'], 'tls' | 'db'> & { sentinels?: unknown[] | null; tls?: ConnectionOptions | boolean; db?: number | string };
  if ((o.sentinels && o.sentinels.length > 0) || (redis as unknown as { isCluster?: boolean }).isCluster) return undefined;
  const db = Number(o.db ?? 0);
  return {
    host: o.host ?? '127.0.0.1',
    port: Number(o.port ?? 6379),
    ...(o.path ? { path: o.path } : {}),
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
    ...(db > 0 ? { db } : {}),
    // `rediss://` gives `tls: true` (Node's defaults: verified against the system CAs, SNI from the host).
    ...(o.tls ? { tls: typeof o.tls === 'object' ? o.tls : {} } : {}),
    ...(name ? { name } : {}),
    connectTimeoutMs: o.connectTimeout ?? 5000,
  };
}

/** An error reply of Redis (named like ioredis' ReplyError, which core's readers recognise). */
export class RespReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding.

const CR = 13;

/**
 * Short strings that recur in every reply (the keys of `XINFO`, group names, `QUEUED`), decoded once:
 * a byte compare instead of a decode and an allocation. Strings that start with a digit (ids, numbers)
 * are never kept; at most {@link Interned.MAX} are.
 */
class Interned {
  static readonly MAX = 512;
  private readonly byKey = new Map<number, Array<[Buffer, string]>>();
  private size = 0;

  get(b: Buffer, start: number, len: number): string {
    const key = len * 65536 + b[start]! * 256 + b[start + len - 1]!;
    const bucket = this.byKey.get(key);
    if (bucket) {
      outer: for (const entry of bucket) {
        const known = entry[0];
        for (let i = 1; i < len - 1; i++) if (known[i] !== b[start + i]) continue outer;
        return entry[1];
      }
    }
    const s = utf8Slice(b, start, start + len);
    if (this.size < Interned.MAX) {
      this.size += 1;
      const entry: [Buffer, string] = [Buffer.from(b.subarray(start, start + len)), s];
      if (bucket) bucket.push(entry);
      else this.byKey.set(key, [entry]);
    }
    return s;
  }
}

/** Thrown by a {@link Cursor} when the received bytes end inside the reply: wait for more. */
const INCOMPLETE = Symbol('incomplete');
const EMPTY = Buffer.alloc(0);

/** A cursor over received bytes; every read checks the bounds and throws {@link INCOMPLETE} at the end. */
class Cursor {
  b: Buffer = EMPTY;
  o = 0;

  constructor(private readonly interned: Interned) {}

  type(): number {
    if (this.o >= this.b.length) throw INCOMPLETE;
    return this.b[this.o++]!;
  }

  /** The integer up to CRLF (after the type byte). */
  int(): number {
    const b = this.b;
    const n = b.length;
    let o = this.o;
    let neg = false;
    if (b[o] === 45) {
      neg = true;
      o++;
    }
    let v = 0;
    for (;;) {
      if (o >= n) throw INCOMPLETE;
      const c = b[o]!;
      if (c === CR) break;
      v = v * 10 + (c - 48);
      o++;
    }
    if (o + 1 >= n) throw INCOMPLETE;
    this.o = o + 2;
    return neg ? -v : v;
  }

  line(): string {
    const end = this.b.indexOf(CR, this.o);
    if (end < 0 || end + 1 >= this.b.length) throw INCOMPLETE;
    const s = utf8Slice(this.b, this.o, end);
    this.o = end + 2;
    return s;
  }

  bulk(len: number): string {
    const b = this.b;
    const o = this.o;
    if (o + len + 2 > b.length) throw INCOMPLETE;
    const first = b[o]!;
    const s = len > 0 && len <= 32 && (first < 48 || first > 57) ? this.interned.get(b, o, len) : utf8Slice(b, o, o + len);
    this.o = o + len + 2;
    return s;
  }

  /** Steps over one value without decoding it. */
  skip(): void {
    const end = replyEnd(this.b, this.o);
    if (end < 0) throw INCOMPLETE;
    this.o = end;
  }
}

/** Decodes one value at the cursor (throws {@link INCOMPLETE} when it is not all there yet). */
type Decoder = (c: Cursor) => unknown;

/** Any value: strings, numbers, arrays, null; an error reply as a {@link RespReplyError}. */
const generic: Decoder = (c) => {
  const t = c.type();
  switch (t) {
    case 36: {
      const len = c.int();
      return len < 0 ? null : c.bulk(len);
    }
    case 58:
      return c.int();
    case 42: {
      const n = c.int();
      if (n < 0) return null;
      const out = new Array<unknown>(n);
      for (let i = 0; i < n; i++) out[i] = generic(c);
      return out;
    }
    case 43:
      return c.line();
    case 45:
      return new RespReplyError(c.line());
    default:
      throw new Error(`unexpected RESP type byte 0x${t.toString(16)}`);
  }
};

/** A stream entry `[id, fields]` as `[id, null]`: the fields are stepped over, never decoded. */
const entry: Decoder = (c) => {
  if (c.b[c.o] !== 42) return generic(c);
  c.o++;
  const n = c.int();
  if (n < 1) return n < 0 ? null : [];
  const id = generic(c);
  for (let i = 1; i < n; i++) c.skip();
  return [id, null];
};

/** `XRANGE` / `XREVRANGE`: a list of entries, fields skipped. */
const entries: Decoder = (c) => {
  if (c.b[c.o] !== 42) return generic(c);
  c.o++;
  const n = c.int();
  if (n < 0) return null;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = entry(c);
  return out;
};

/** The values of `XINFO STREAM` that core's `parseStreamInfo` reads; the others are stepped over (null). */
const STREAM_INFO_USED = new Set(['length', 'entries-added', 'first-entry', 'last-entry']);

/**
 * `XINFO STREAM`: the flat key/value list, with `first-entry` and `last-entry` decoded as {@link entry}
 * and the values core does not read (radix tree sizes, other ids) left null.
 */
const streamInfo: Decoder = (c) => {
  if (c.b[c.o] !== 42) return generic(c);
  c.o++;
  const n = c.int();
  if (n < 0) return null;
  const out = new Array<unknown>(n);
  for (let i = 0; i + 1 < n; i += 2) {
    const k = generic(c);
    out[i] = k;
    if (k === 'first-entry' || k === 'last-entry') out[i + 1] = entry(c);
    else if (typeof k === 'string' && STREAM_INFO_USED.has(k)) out[i + 1] = generic(c);
    else {
      c.skip();
      out[i + 1] = null;
    }
  }
  if (n % 2 === 1) out[n - 1] = generic(c);
  return out;
};

/** `EXEC`: each queued command's reply decoded as that command's would be. */
function execOf(decoders: Decoder[]): Decoder {
  return (c) => {
    if (c.b[c.o] !== 42) return generic(c);
    c.o++;
    const n = c.int();
    if (n < 0) return null;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = (n === decoders.length ? decoders[i]! : generic)(c);
    return out;
  };
}

/** The decoder of each command of a pipeline (commands between MULTI and EXEC reply QUEUED; EXEC brings their replies). */
function decodersFor(commands: BacklogCommand[]): Decoder[] {
  const out: Decoder[] = [];
  let queued: Decoder[] | undefined;
  for (const cmd of commands) {
    const name = String(cmd[0]).toUpperCase();
    let d: Decoder = generic;
    if (name === 'XRANGE' || name === 'XREVRANGE') d = entries;
    else if (name === 'XINFO' && String(cmd[1]).toUpperCase() === 'STREAM') d = streamInfo;
    if (name === 'MULTI') {
      queued = [];
      out.push(generic);
    } else if (name === 'EXEC' || name === 'DISCARD') {
      out.push(name === 'EXEC' && queued ? execOf(queued) : generic);
      queued = undefined;
    } else if (queued) {
      queued.push(d);
      out.push(generic); // +QUEUED (or an error reply)
    } else out.push(d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The connection.

interface Waiting {
  decode: Decoder;
  done: (reply: unknown) => void;
  fail: (err: Error) => void;
}

/** A Redis connection for a scrape's reads; a core {@link BacklogTransport}. */
export class RespConnection implements BacklogTransport {
  multiRefused?: boolean;
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private readonly waiting: Waiting[] = [];
  private head = 0;
  private pendingBytes: Buffer | undefined;
  private readonly cursor = new Cursor(new Interned());
  /** The reply at the head of the received bytes was found incomplete. */
  private partial = false;
  private closed = false;

  constructor(private readonly o: RespConnectionOptions) {}

  /** True while a connection is established. */
  get connected(): boolean {
    return this.socket !== undefined;
  }

  /**
   * Sends the commands pipelined (one write) and resolves with their replies once all are in
   * (`[error, undefined]` for an error reply). Rejects when the connection fails or closes first.
   */
  async send(commands: BacklogCommand[]): Promise<BacklogReply[]> {
    if (commands.length === 0) return [];
    const socket = this.socket ?? (await this.connect());
    return this.write(socket, commands, decodersFor(commands));
  }

  /** Holds the sends that follow (on the current connection) until {@link uncork}: one write for all. */
  cork(): void {
    this.socket?.cork();
  }

  uncork(): void {
    this.socket?.uncork();
  }

  /** Drops the connection (the commands in flight fail with `reason`); the next `send` connects again. */
  reset(reason: string): void {
    if (this.socket) this.drop(this.socket, new Error(reason));
  }

  /** Closes the connection for good; commands in flight fail. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.socket) this.drop(this.socket, new Error('connection closed'));
  }

  private write(socket: Socket, commands: BacklogCommand[], decoders: Decoder[]): Promise<BacklogReply[]> {
    return new Promise((resolve, reject) => {
      if (socket !== this.socket) {
        reject(new Error(this.closed ? 'connection closed' : 'connection lost'));
        return;
      }
      const replies = new Array<BacklogReply>(commands.length);
      let left = commands.length;
      let failed = false;
      const fail = (err: Error): void => {
        if (!failed) {
          failed = true;
          reject(err);
        }
      };
      let data = '';
      for (let i = 0; i < commands.length; i++) {
        data += encodeCommand(commands[i]!);
        this.waiting.push({
          decode: decoders[i]!,
          done: (v) => {
            replies[i] = v instanceof Error ? [v, undefined] : [null, v];
            if (--left === 0 && !failed) resolve(replies);
          },
          fail,
        });
      }
      // One write per send, at once: Redis starts on the first batch while the next are written (and
      // answers it before it has read them all: it writes replies between the pieces it reads).
      socket.write(data);
    });
  }

  private connect(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    const o = this.o;
    const timeoutMs = o.connectTimeoutMs ?? 5000;
    const where = o.path ?? `${o.host}:${o.port}`;
    const socket: Socket = o.tls
      ? tlsConnect({ ...(o.path ? { path: o.path } : { host: o.host, port: o.port, servername: o.host }), ...o.tls })
      : netConnect(o.path ? { path: o.path } : { host: o.host, port: o.port });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    // One deadline for the connect and the hello commands.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection to ${where} within ${timeoutMs} ms`)), timeoutMs);
    });
    deadline.catch(() => undefined);
    try {
      await Promise.race([
        deadline,
        new Promise<void>((resolve, reject) => {
          socket.once(o.tls ? 'secureConnect' : 'connect', () => resolve());
          socket.once('error', reject);
        }),
      ]);
      if (this.closed) throw new Error('connection closed');
      socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
      socket.on('error', (err) => this.drop(socket, err));
      socket.on('close', () => this.drop(socket, new Error(`connection to ${where} closed`)));
      this.socket = socket;
      const hello: BacklogCommand[] = [];
      if (o.password) hello.push(o.username ? ['AUTH', o.username, o.password] : ['AUTH', o.password]);
      if (o.db) hello.push(['SELECT', o.db]);
      if (o.name) hello.push(['CLIENT', 'SETNAME', o.name.replace(/\s/g, '_')]);
      if (hello.length > 0) {
        const replies = await Promise.race([deadline, this.write(socket, hello, hello.map(() => generic))]);
        hello.forEach((cmd, i) => {
          const err = replies[i]![0];
          if (err && cmd[0] !== 'CLIENT') throw err; // a wrong password, an unknown db
        });
      }
      return socket;
    } catch (err) {
      this.drop(socket, err instanceof Error ? err : new Error(String(err)));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    const b = this.pendingBytes ? Buffer.concat([this.pendingBytes, chunk]) : chunk;
    this.pendingBytes = undefined;
    const c = this.cursor;
    c.b = b;
    let o = 0;
    while (o < b.length) {
      const w = this.waiting[this.head];
      if (!w) {
        this.drop(socket, new Error('reply without a request: connection out of step'));
        return;
      }
      // A reply decoded while its bytes arrive would be decoded again for every piece: once one was
      // found incomplete, it is decoded only when its framing says it is all there.
      if (this.partial && replyEnd(b, o) < 0) break;
      c.o = o;
      let value: unknown;
      try {
        value = w.decode(c);
      } catch (err) {
        if (err === INCOMPLETE) {
          this.partial = true;
          break;
        }
        const e = err instanceof Error ? err : new Error(String(err));
        this.drop(socket, e);
        return;
      }
      this.partial = false;
      this.waiting[this.head++] = undefined as unknown as Waiting;
      o = c.o;
      w.done(value);
    }
    c.b = EMPTY;
    if (this.head === this.waiting.length) {
      this.waiting.length = 0;
      this.head = 0;
    }
    if (o < b.length) this.pendingBytes = b.subarray(o);
  }

  /** Forgets `socket` (if it is the current one) and fails everything waiting on it. */
  private drop(socket: Socket, err: Error): void {
    if (socket === this.socket) {
      this.socket = undefined;
      this.pendingBytes = undefined;
      this.partial = false;
      const waiting = this.waiting.splice(this.head);
      this.waiting.length = 0;
      this.head = 0;
      for (const w of waiting) w.fail(err);
    }
    socket.destroy();
  }
}
