import {
  ShardPicker, combineShardBacklogs, deadLetterKey, derivedPrefix, groupBySlot, hashTagOf, idempotencyKey, idempotencyPattern, keySlot, parseShardKey,
  partitionKeyOf, shardKey, shardKeys, shardOf, streamShardsSpec, type BacklogResult, type KeyMode,
} from '../src';

const CLUSTER: KeyMode = { cluster: true };

describe('key names', () => {
  test('one server keeps today\'s names', () => {
    expect(deadLetterKey('orders')).toBe('orders:dlq');
    expect(idempotencyKey('orders', 'shop', 'e-1')).toBe('orders:idem:shop:e-1');
    expect(deadLetterKey('orders{2}')).toBe('orders{2}:dlq');
  });

  test('cluster: a stream without a hash tag gets {S}-tagged derived keys in its own slot', () => {
    for (const s of ['orders', 'a:b:c', 'long-name-with-dashes']) {
      expect(deadLetterKey(s, CLUSTER)).toBe(`{${s}}:dlq`);
      expect(idempotencyKey(s, 'src', 'id', CLUSTER)).toBe(`{${s}}:idem:src:id`);
      expect(keySlot(deadLetterKey(s, CLUSTER))).toBe(keySlot(s));
      expect(keySlot(idempotencyKey(s, 'src', 'id', CLUSTER))).toBe(keySlot(s));
    }
  });

  test('cluster: a stream with a hash tag keeps S:dlq, S:idem:… (they inherit its tag)', () => {
    for (const s of ['{orders}', '{x}y', 'S{0}', 'pay{5}']) {
      expect(deadLetterKey(s, CLUSTER)).toBe(`${s}:dlq`);
      expect(keySlot(deadLetterKey(s, CLUSTER))).toBe(keySlot(s));
      expect(keySlot(idempotencyKey(s, 'a', 'b', CLUSTER))).toBe(keySlot(s));
    }
  });

  test('hash tags follow Redis\' rule (first { to the next }, not empty)', () => {
    expect(hashTagOf('a{b}c{d}')).toBe('b');
    expect(hashTagOf('a{}b')).toBeUndefined();
    expect(hashTagOf('a}b{c')).toBeUndefined();
    expect(hashTagOf('plain')).toBeUndefined();
  });

  test('cluster: a stream with "}" but no hash tag is refused with a message naming it', () => {
    expect(() => derivedPrefix('a}b', CLUSTER)).toThrow(/"a}b" holds a "}" but no hash tag/);
    expect(() => derivedPrefix('x{}y', CLUSTER)).toThrow(/no hash tag/); // {x{}y} would hash by "x{"
    expect(derivedPrefix('a}b')).toBe('a}b');
  });

  test('idempotencyPattern escapes glob characters and matches the markers', () => {
    expect(idempotencyPattern('o*', CLUSTER)).toBe('{o\\*}:idem:*');
    expect(idempotencyPattern('orders')).toBe('orders:idem:*');
  });
});

describe('shards', () => {
  test('STREAM_SHARDS=N makes S{0} … S{N-1}; 1 is the stream itself', () => {
    expect(shardKeys('S', 1)).toEqual(['S']);
    expect(shardKeys('S', 3)).toEqual(['S{0}', 'S{1}', 'S{2}']);
    expect(shardKey('S', 2, 3)).toBe('S{2}');
    expect(() => shardKey('S', 3, 3)).toThrow(RangeError);
    expect(() => shardKeys('S', 0)).toThrow(/shards must be an integer in \[1, 1024\]/);
  });

  test('shards land on different slots', () => {
    expect(new Set(shardKeys('S', 6).map(keySlot)).size).toBe(6);
  });

  test('parseShardKey recognises only indexes below N', () => {
    expect(parseShardKey('S{3}', 6)).toEqual({ stream: 'S', index: 3 });
    expect(parseShardKey('a:b{0}', 2)).toEqual({ stream: 'a:b', index: 0 });
    expect(parseShardKey('S{6}', 6)).toBeUndefined();
    expect(parseShardKey('S{03}', 6)).toBeUndefined();
    expect(parseShardKey('S{3}', 1)).toBeUndefined();
    expect(parseShardKey('S', 6)).toBeUndefined();
  });

  test('STREAM_SHARDS: default 1, range 1..1024, a bad value names the variable', () => {
    const spec = streamShardsSpec();
    expect(spec.parse(undefined, {})).toBe(1);
    expect(spec.parse('6', {})).toBe(6);
    expect(() => spec.parse('0', {})).toThrow(/STREAM_SHARDS="0" is invalid/);
    expect(() => spec.parse('x', {})).toThrow(/STREAM_SHARDS/);
  });
});

describe('partitioner', () => {
  test('stable: FNV-1a values fixed here (any producer, any version, any language must agree)', () => {
    // FNV-1a 32-bit of "" is 0x811c9dc5, of "a" 0xe40c292c, of "foobar" 0xbf9cf968.
    expect(shardOf('', 1000)).toBe(0x811c9dc5 % 1000);
    expect(shardOf('a', 1000)).toBe(0xe40c292c % 1000);
    expect(shardOf('foobar', 1000)).toBe(0xbf9cf968 % 1000);
    expect(shardOf('customer-42', 6)).toBe(shardOf('customer-42', 6));
  });

  test('spread: 60000 distinct keys over 6 shards, each within 5 % of the even share', () => {
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[shardOf(`customer-${i}`, 6)]! += 1;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  test('partition key: the partitionkey extension, else subject, else none', () => {
    expect(partitionKeyOf({ subject: 's', extensions: { partitionkey: 'p' } })).toBe('p');
    expect(partitionKeyOf({ subject: 's', extensions: {} })).toBe('s');
    expect(partitionKeyOf({ extensions: {} })).toBeUndefined();
    expect(partitionKeyOf({ subject: '', extensions: { partitionkey: 7 } })).toBe('7');
  });

  test('ShardPicker: one key one shard; a client id without a key by source+id; the rest round robin', () => {
    const p = new ShardPicker(4);
    const e = (over: object): { source: string; id: string; subject?: string; extensions: Record<string, string> } => ({ source: 'src', id: 'x', extensions: {}, ...over });
    const k = p.pick(e({ subject: 'acct-1' }), false);
    for (let i = 0; i < 10; i++) expect(p.pick(e({ subject: 'acct-1', id: `i${i}` }), true)).toBe(k);
    const byId = p.pick(e({ id: 'order-9' }), true);
    expect(p.pick(e({ id: 'order-9' }), true)).toBe(byId);
    const rr = [0, 1, 2, 3, 4, 5, 6, 7].map(() => p.pick(e({}), false));
    expect(rr).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(new ShardPicker(1).pick(e({ subject: 'z' }), true)).toBe(0);
  });
});

describe('sharded backlog total', () => {
  const ok = (outstanding: number, lag: number, pending: number, lagSeconds: number, consumers: number): BacklogResult => ({
    status: 'ok',
    backlog: { stream: 'x', group: 'g', streamLength: lag + pending + 1, lag, lagEstimated: false, lagSeconds, pending, oldestPendingSeconds: lagSeconds / 2, outstanding, consumers },
  });

  test('sums counts, takes the largest age and consumer count; a shard without the group counts whole', () => {
    const r = combineShardBacklogs('S', 'g', [ok(10, 7, 3, 4, 2), ok(5, 5, 0, 9, 3), { status: 'no-group', streamLength: 4, lagSeconds: 12 }, { status: 'no-stream' }]);
    expect(r).toEqual({
      status: 'ok',
      backlog: { stream: 'S', group: 'g', streamLength: 11 + 6 + 4, lag: 7 + 5 + 4, lagEstimated: false, lagSeconds: 12, pending: 3, oldestPendingSeconds: 4.5, outstanding: 19, consumers: 3 },
    });
  });

  test('no shard: no-stream; no shard with the group: no-group with the whole length', () => {
    expect(combineShardBacklogs('S', 'g', [{ status: 'no-stream' }, { status: 'no-stream' }])).toEqual({ status: 'no-stream' });
    expect(combineShardBacklogs('S', 'g', [{ status: 'no-group', streamLength: 2, lagSeconds: 1 }, { status: 'no-group', streamLength: 3, lagSeconds: 5 }, { status: 'no-stream' }]))
      .toEqual({ status: 'no-group', streamLength: 5, lagSeconds: 5 });
  });
});

test('groupBySlot: one group on one server; per slot in a cluster', () => {
  expect(groupBySlot(['a', 'b'], false)).toEqual([['a', 'b']]);
  expect(groupBySlot([], false)).toEqual([]);
  const g = groupBySlot(['{t}a', 'x', '{t}b'], true);
  expect(g).toEqual([['{t}a', '{t}b'], ['x']]);
});
