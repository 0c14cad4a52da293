/**
 * RESP2 framing shared by the project's one Redis wire client (resp-client.ts), used by the worker's
 * read connection (streams/consumer.ts) and the lag exporter's scrape connection: command encoding,
 * finding where a reply ends without decoding it, and the receive buffer.
 */

const CR = 13;

/** A command as the RESP2 array of bulk strings `ioredis` would send. */
export function encodeCommand(args: ReadonlyArray<string | number>): string {
  let s = `*${args.length}\r\n`;
  for (const a of args) {
    const v = String(a);
    s += `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
  }
  return s;
}

/**
 * Walks the framing of the RESP2 reply that starts at `start` (type bytes, lengths; bulk strings are
 * jumped over): the offset just past it, or, when `b` ends inside it, the negated number of bytes the
 * buffer must hold at least before another walk can succeed (always more than `b.length`).
 */
export function scanReply(b: Buffer, start = 0): number {
  const n = b.length;
  let o = start;
  let remaining = 1;
  while (remaining > 0) {
    if (o >= n) return -(n + 1);
    const t = b[o++]!;
    remaining -= 1;
    if (t === 36 /* $ */ || t === 42 /* * */) {
      let neg = false;
      if (b[o] === 45) {
        neg = true;
        o++;
      }
      let len = 0;
      for (;;) {
        if (o >= n) return -(n + 1);
        const c = b[o]!;
        if (c === CR) break;
        len = len * 10 + (c - 48);
        o++;
      }
      o += 2; // CRLF
      if (neg) continue; // null bulk or null array
      if (t === 36) o += len + 2;
      else remaining += len;
    } else {
      // + - : a line up to CRLF
      while (o < n && b[o] !== CR) o++;
      if (o >= n) return -(n + 1);
      o += 2;
    }
  }
  return o <= n ? o : -o;
}

/**
 * The offset just past the RESP2 reply that starts at `start` in `b`, or -1 when `b` ends inside it.
 * Only walks the framing: no allocation.
 */
export function replyEnd(b: Buffer, start = 0): number {
  const end = scanReply(b, start);
  return end < 0 ? -1 : end;
}

const EMPTY = Buffer.alloc(0);
/** A receive buffer this large or larger is let go once emptied (a big reply's memory is not kept). */
const KEEP_AT_MOST = 1 << 20;

/**
 * The bytes received and not yet decoded. A reply that arrives in many socket chunks is gathered in
 * one buffer that grows by doubling, so each byte is copied a bounded number of times (appending by
 * `Buffer.concat` copies everything received so far at every chunk: quadratic in the reply size).
 * A chunk that arrives while nothing is buffered is used as it is, without a copy.
 */
export class ReceiveBuffer {
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  /** `buf` is ours (allocated here), not a socket chunk: appending may write into it. */
  private owned = false;
  /** Bytes the reply at the head needs at least (from {@link scanReply}); no walk before they are in. */
  private need = 0;

  get length(): number {
    return this.end - this.start;
  }

  append(chunk: Buffer): void {
    const live = this.end - this.start;
    if (live === 0) {
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (!this.owned || this.buf.length - this.end < chunk.length) {
      const size = Math.max(live + chunk.length, this.need, Math.min(2 * (live + chunk.length), live + chunk.length + (64 << 20)), 64 << 10);
      const next = Buffer.allocUnsafe(size);
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = live;
      this.owned = true;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /**
   * The end (relative to {@link view}) of the complete reply at the head, or -1 while it is not all
   * there (no walk at all while fewer bytes than it is known to need are in).
   */
  replyEnd(): number {
    const live = this.end - this.start;
    if (live < this.need) return -1;
    const v = this.view();
    const r = scanReply(v, 0);
    if (r >= 0) {
      this.need = 0;
      return r;
    }
    this.need = -r;
    return -1;
  }

  /** The buffered bytes (a view: valid until the next append or consume). */
  view(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  /** Drops the first `n` buffered bytes (the reply just decoded). */
  consume(n: number): void {
    this.start += n;
    this.need = 0;
    if (this.start >= this.end) this.clear(this.buf.length < KEEP_AT_MOST && this.owned);
  }

  /** Forgets everything buffered; `keep`: reuse the allocated buffer for the next reply. */
  clear(keep = false): void {
    if (!keep) {
      this.buf = EMPTY;
      this.owned = false;
    }
    this.start = 0;
    this.end = 0;
    this.need = 0;
  }
}

/** A Buffer with its own per-encoding slicers (what `toString(encoding, start, end)` dispatches to). */
export type SlicingBuffer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };
const proto = Buffer.prototype as Partial<SlicingBuffer>;
/** True where Buffer has its slicers (every supported Node.js; checked once). */
export const HAS_SLICERS = typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';

/** `b.toString('utf8', start, end)` without its argument checks and dispatch. */
export function utf8Slice(b: Buffer, start: number, end: number): string {
  return HAS_SLICERS ? (b as SlicingBuffer).utf8Slice(start, end) : b.toString('utf8', start, end);
}

/** `b.toString('latin1', start, end)` without its argument checks and dispatch. */
export function latin1Slice(b: Buffer, start: number, end: number): string {
  return HAS_SLICERS ? (b as SlicingBuffer).latin1Slice(start, end) : b.toString('latin1', start, end);
}
