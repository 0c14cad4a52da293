/**
 * ReceiveBuffer: complete replies handed out one by one whatever the chunking (every split point
 * of a sequence of replies, and random small chunks of large ones), a reply inside one chunk as a
 * view of it, a reply across chunks assembled into one Buffer.
 */
import { ReceiveBuffer } from '../src/resp';
import { SAMPLE_REPLIES, resp } from './support/resp-samples';

const REPLIES = SAMPLE_REPLIES;

/** Feeds `chunks` and collects every reply handed out, as text. */
function feed(chunks: Buffer[]): string[] {
  const rb = new ReceiveBuffer();
  const out: string[] = [];
  for (const c of chunks) {
    rb.append(c);
    for (let r = rb.next(); r !== undefined; r = rb.next()) out.push(r.toString('utf8'));
  }
  expect(rb.length).toBe(0);
  return out;
}

test('every way of cutting a sequence of replies in two or three chunks gives the same replies', () => {
  const all = Buffer.from(REPLIES.join(''), 'utf8');
  for (let i = 0; i <= all.length; i++) {
    expect(feed([all.subarray(0, i), all.subarray(i)])).toEqual(REPLIES);
    const j = Math.min(all.length, i + 7);
    expect(feed([all.subarray(0, i), all.subarray(i, j), all.subarray(j)])).toEqual(REPLIES);
  }
});

test('large replies cut into random 1..70,000-byte chunks come out whole; a reply inside one chunk is a view of it (no copy)', () => {
  const big = resp([['s', Array.from({ length: 20 }, (_, i) => [`${i}-0`, ['data', 'x'.repeat(100_000 + i)]])]]);
  const replies = [big, '+OK\r\n', big];
  const all = Buffer.from(replies.join(''));
  let seed = 7;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const chunks: Buffer[] = [];
  for (let o = 0; o < all.length; ) {
    const step = 1 + rnd(70_000);
    chunks.push(all.subarray(o, o + step));
    o += step;
  }
  expect(feed(chunks)).toEqual(replies);
  const one = Buffer.from('+OK\r\n:1\r\n');
  const rb = new ReceiveBuffer();
  rb.append(one);
  const r = rb.next()!;
  expect(r.buffer).toBe(one.buffer);
  expect(r.toString()).toBe('+OK\r\n');
  expect(rb.next()!.toString()).toBe(':1\r\n');
});
