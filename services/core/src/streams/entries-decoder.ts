/**
 * The decoder of XREADGROUP replies for one stream (the worker's hottest path): entries decoded
 * straight from the received bytes into `[id, fields]` strings, no intermediate Buffer per field,
 * field names interned.
 */
import { isAscii } from 'node:buffer';
import { latin1Slice, utf8Slice } from '../resp';
import { RespReplyError, type Cursor, type Decoder } from '../resp-decode';

/** One entry as Redis returns it; `fields` is null when the entry was deleted from the stream while pending. */
export type RawEntry = [id: string, fields: string[] | null];

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

/** Reads `*<n>` (after checking the type byte); throws a malformed-reply error naming `what` otherwise. */
function arrayLen(c: Cursor, what: string): number {
  if (c.type() !== 42) throw new Error(`malformed XREADGROUP reply: ${what} is not an array`);
  return c.int();
}

/** Reads `$<len>`: the bulk's length, its bytes at `c.o`. */
function bulkLen(c: Cursor, what: string): number {
  if (c.type() !== 36) throw new Error(`malformed XREADGROUP reply: ${what} is not a bulk string`);
  return c.bulkLen();
}

/**
 * A decoder of XREADGROUP replies (one per connection: it keeps the interned field names). `*-1`
 * (BLOCK ran out) or an empty list gives []; an error reply a RespReplyError.
 */
export function entriesDecoder(): Decoder {
  const names = new FieldNames();
  return (c) => {
    if (c.b[c.o] === 45) {
      c.o++;
      return new RespReplyError(c.line());
    }
    if (arrayLen(c, 'the reply') <= 0) return [];
    arrayLen(c, 'the stream'); // *2 $<stream> *<n>
    const nameLen = bulkLen(c, 'the stream name');
    c.o += nameLen + 2;
    const n = arrayLen(c, 'the entries');
    const out = new Array<RawEntry>(Math.max(0, n));
    const b = c.b;
    // Replies are mostly ASCII: then each value is copied as latin1 (a plain copy) instead of decoded
    // as UTF-8. (Substrings of one decoded reply would be cheaper still, but every kept value would
    // keep the whole reply alive.)
    const ascii = isAscii(b);
    for (let e = 0; e < n; e++) {
      arrayLen(c, 'an entry');
      const idLen = bulkLen(c, 'an entry id');
      const id = latin1Slice(b, c.o, c.o + idLen);
      c.o += idLen + 2;
      const nf = arrayLen(c, 'the fields of an entry');
      if (nf < 0) {
        out[e] = [id, null]; // deleted while pending
        continue;
      }
      const fields = new Array<string>(nf);
      for (let i = 0; i < nf; i++) {
        const len = bulkLen(c, 'a field');
        if ((i & 1) === 0) fields[i] = names.decode(b, c.o, len, i >> 1);
        else fields[i] = ascii ? latin1Slice(b, c.o, c.o + len) : utf8Slice(b, c.o, c.o + len);
        c.o += len + 2;
      }
      out[e] = [id, fields];
    }
    return out;
  };
}
