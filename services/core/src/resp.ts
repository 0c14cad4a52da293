/**
 * RESP2 pieces shared by the project's two hand-written Redis connections: the worker's read
 * connection (streams/consumer.ts) and the lag exporter's scrape connection.
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
 * The offset just past the RESP2 reply that starts at `start` in `b`, or -1 when `b` ends inside it.
 * Only walks the framing (type bytes, lengths): no allocation, so a reply that arrives in many chunks
 * costs one decode, not one per chunk.
 */
export function replyEnd(b: Buffer, start = 0): number {
  const n = b.length;
  let o = start;
  let remaining = 1;
  while (remaining > 0) {
    if (o >= n) return -1;
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
        if (o >= n) return -1;
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
      if (o >= n) return -1;
      o += 2;
    }
  }
  return o <= n ? o : -1;
}

/** A Buffer with its own per-encoding slicers (what `toString(encoding, start, end)` dispatches to). */
export type SlicingBuffer = Buffer & {
  /** Node's internal latin1 slicer of a Buffer. */
  latin1Slice(start: number, end: number): string;
  /** Node's internal UTF-8 slicer of a Buffer. */
  utf8Slice(start: number, end: number): string;
};
const proto = Buffer.prototype as Partial<SlicingBuffer>;
/** True where Buffer has its slicers (every supported Node.js; checked once). */
export const HAS_SLICERS = typeof proto.latin1Slice === 'function' && typeof proto.utf8Slice === 'function';

/** `b.toString('utf8', start, end)` without its argument checks and dispatch. */
export function utf8Slice(b: Buffer, start: number, end: number): string {
  return HAS_SLICERS ? (b as SlicingBuffer).utf8Slice(start, end) : b.toString('utf8', start, end);
}
