/**
 * Decoding RESP2 replies straight from received bytes: one {@link Cursor}, one {@link genericReply}
 * decoder, and the error class of error replies. Command-specific decoders (the worker's XREADGROUP
 * entries, the exporter's XRANGE/XINFO that skip fields) are built on the same cursor.
 */
import { scanReply, utf8Slice } from './resp';

/** Thrown by a {@link Cursor} when the bytes end inside the reply (never escapes a complete reply). */
export const INCOMPLETE = Symbol('incomplete');
const CR = 13;
const EMPTY = Buffer.alloc(0);

/** An error reply of Redis (`NOGROUP …`, `WRONGPASS …`, `MOVED …`); named like ioredis' ReplyError. */
export class RespReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }

  /** A Cluster redirect (`MOVED <slot> <host:port>` / `ASK …`), for a client that follows them (issue 17); else undefined. */
  get redirect(): { kind: 'MOVED' | 'ASK'; slot: number; host: string; port: number } | undefined {
    const m = /^(MOVED|ASK) (\d+) (.+):(\d+)$/.exec(this.message);
    return m ? { kind: m[1] as 'MOVED' | 'ASK', slot: Number(m[2]), host: m[3]!, port: Number(m[4]) } : undefined;
  }
}

/**
 * Short strings that recur in replies (XINFO keys, group names, field names), decoded once: a byte
 * compare instead of a decode and an allocation. Strings starting with a digit (ids, numbers) are
 * never kept; at most {@link Interned.MAX} are.
 */
export class Interned {
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

/** A cursor over one complete reply's bytes; every read checks the bounds and throws {@link INCOMPLETE} at the end. */
export class Cursor {
  b: Buffer = EMPTY;
  o = 0;

  constructor(readonly interned = new Interned()) {}

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

  /** A simple line (`+OK`, `-ERR …`) after the type byte. */
  line(): string {
    const end = this.b.indexOf(CR, this.o);
    if (end < 0 || end + 1 >= this.b.length) throw INCOMPLETE;
    const s = utf8Slice(this.b, this.o, end);
    this.o = end + 2;
    return s;
  }

  /** After `$`: the length of a bulk string whose bytes start at `o` (checked to be all there), or -1 for a null bulk. */
  bulkLen(): number {
    const len = this.int();
    if (len < 0) return -1;
    if (this.o + len + 2 > this.b.length) throw INCOMPLETE;
    return len;
  }

  /** A bulk string's text (after its length): short non-numeric ones interned. */
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
    const end = scanReply(this.b, this.o);
    if (end < 0) throw INCOMPLETE;
    this.o = end;
  }
}

/** Decodes one value at the cursor. */
export type Decoder = (c: Cursor) => unknown;

/** Any value: strings, numbers, arrays, null; an error reply as a {@link RespReplyError}. */
export const genericReply: Decoder = (c) => {
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
      for (let i = 0; i < n; i++) out[i] = genericReply(c);
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
