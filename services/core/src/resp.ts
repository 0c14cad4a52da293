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

const CR_ = 13;
const T_TYPE = 0;
const T_LEN = 1;
const T_LEN_LF = 2;
const T_LINE = 3;
const T_LINE_LF = 4;
const T_SKIP = 5;

/**
 * The bytes received and not yet decoded, kept as the socket's chunks; {@link next} hands out each
 * complete reply as one Buffer. The framing of a reply that arrives in many chunks is walked once,
 * as the chunks come (a resumable walk: bulk strings are stepped over by their length), and the reply
 * is assembled with one copy once it is all there; a reply inside one chunk is a view of it, no copy.
 * (Appending every chunk with `Buffer.concat` copied everything received so far at each chunk:
 * quadratic in the reply size.) Memory: the chunks of the reply under way, then its one copy.
 */
export class ReceiveBuffer {
  private chunks: Buffer[] = [];
  /** Where replies spanning several chunks are assembled (see {@link take}). */
  private scratch: Buffer = Buffer.alloc(0);
  /** Where the unread bytes start in chunks[0]. */
  private headOff = 0;
  private total = 0;
  // The walk of the reply at the head: where it continues, how far it got, and its state.
  private scanChunk = 0;
  private scanOff = 0;
  private scanned = 0;
  private state = T_TYPE;
  private remaining = 1;
  private len = 0;
  private neg = false;
  private lenType = 0;

  /** Bytes received and not handed out. */
  get length(): number {
    return this.total;
  }

  append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /**
   * The next complete reply (a Buffer of exactly its bytes), or undefined while it is not all there.
   * The Buffer is valid until the next call: decode it (copying what is kept) before asking for more.
   */
  next(): Buffer | undefined {
    if (this.total === 0) return undefined;
    // Fast path: nothing walked yet and the reply lies in the first chunk.
    if (this.scanned === 0 && this.state === T_TYPE && this.remaining === 1) {
      const first = this.chunks[0]!;
      const end = scanReply(first, this.headOff);
      if (end >= 0) return this.take(end - this.headOff);
    }
    const end = this.walk();
    return end < 0 ? undefined : this.take(end);
  }

  /** Forgets everything buffered. */
  clear(): void {
    this.chunks = [];
    this.headOff = 0;
    this.total = 0;
    this.resetWalk();
  }

  private resetWalk(): void {
    this.scanChunk = 0;
    this.scanOff = this.headOff;
    this.scanned = 0;
    this.state = T_TYPE;
    this.remaining = 1;
  }

  /** Continues the walk over the chunks received since; the reply's length once complete, else -1. */
  private walk(): number {
    if (this.scanChunk === 0 && this.scanned === 0) this.scanOff = this.headOff;
    while (this.scanChunk < this.chunks.length) {
      const b = this.chunks[this.scanChunk]!;
      let o = this.scanOff;
      const n = b.length;
      while (o < n) {
        if (this.state === T_SKIP) {
          const step = Math.min(this.len, n - o);
          o += step;
          this.scanned += step;
          this.len -= step;
          if (this.len > 0) break;
          if (this.elementDone()) return this.finish(o);
          continue;
        }
        const c = b[o++]!;
        this.scanned += 1;
        if (this.byte(c) && this.elementDone()) return this.finish(o);
      }
      this.scanChunk += 1;
      this.scanOff = 0;
    }
    return -1;
  }

  /** One framing byte; true when it ends an element. */
  private byte(c: number): boolean {
    switch (this.state) {
      case T_TYPE:
        this.remaining -= 1;
        if (c === 36 || c === 42) {
          this.state = T_LEN;
          this.lenType = c;
          this.len = 0;
          this.neg = false;
        } else this.state = T_LINE;
        return false;
      case T_LEN:
        if (c === 45) this.neg = true;
        else if (c === CR_) this.state = T_LEN_LF;
        else this.len = this.len * 10 + (c - 48);
        return false;
      case T_LEN_LF:
        if (this.neg) return true; // null bulk or null array
        if (this.lenType === 42) {
          this.remaining += this.len;
          return true;
        }
        this.len += 2; // the bytes and CRLF
        this.state = T_SKIP;
        return false;
      case T_LINE:
        if (c === CR_) this.state = T_LINE_LF;
        return false;
      default: // T_LINE_LF
        return true;
    }
  }

  /** An element ended: the reply is complete when nothing remains of it. */
  private elementDone(): boolean {
    this.state = T_TYPE;
    return this.remaining === 0;
  }

  private finish(o: number): number {
    this.scanOff = o;
    return this.scanned;
  }

  /** Removes the first `size` unread bytes and returns them as one Buffer (a view when they lie in one chunk). */
  private take(size: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length - this.headOff >= size) {
      out = first.subarray(this.headOff, this.headOff + size);
      this.headOff += size;
    } else {
      // One buffer for every reply that spans chunks, grown to the largest seen and reused: decoders
      // copy what they keep (strings), so a reply's bytes are dead once it is decoded. (A fresh
      // allocation per large reply costs page faults on every page of it.)
      if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, Math.min(2 * this.scratch.length, 64 << 20)));
      out = this.scratch.subarray(0, size);
      let at = 0;
      while (at < size) {
        const c = this.chunks[0]!;
        const step = Math.min(size - at, c.length - this.headOff);
        c.copy(out, at, this.headOff, this.headOff + step);
        at += step;
        this.headOff += step;
        if (this.headOff === c.length && at < size) {
          this.chunks.shift();
          this.headOff = 0;
        }
      }
    }
    if (this.chunks.length > 0 && this.headOff === this.chunks[0]!.length) {
      this.chunks.shift();
      this.headOff = 0;
    }
    this.total -= size;
    this.resetWalk();
    return out;
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
