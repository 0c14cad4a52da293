import { discoverStreams, globToRegExp, isStreamGlob } from '../src/streams/lag-discovery';
import { useSharedRedis } from '../../../test-support/redis';

describe('stream discovery: one place for stream globs', () => {
  const { prefix, redis } = useSharedRedis('core-discovery');

  test('isStreamGlob: names with glob characters are patterns, others are names', () => {
    expect(['events', 'orders:eu', 'a-b.c'].map(isStreamGlob)).toEqual([false, false, false]);
    expect(['orders:*', 'h?llo', 'h[ae]llo', 'a\\*b'].map(isStreamGlob)).toEqual([true, true, true, true]);
  });

  test('globToRegExp matches exactly the streams Redis SCAN MATCH finds (discoverStreams)', async () => {
    const names = ['orders:eu', 'orders:us', 'xorders:eu', 'hallo', 'hello', 'hillo', 'a*b', 'axb', 'a.b'].map((n) => `${prefix}:${n}`);
    for (const n of names) await redis.xadd(n, '*', 'f', 'v');
    await redis.set(`${prefix}:orders:notastream`, 'x');
    for (const glob of ['orders:*', 'h?llo', 'h[ae]llo', 'h[^e]llo', 'a\\*b', 'a.b', '*']) {
      const pattern = `${prefix}:${glob}`;
      const found = await discoverStreams(redis, [pattern]);
      expect(found.length).toBeGreaterThan(0);
      expect(names.filter((n) => globToRegExp(pattern).test(n)).sort()).toEqual(found);
    }
    // A plain name is kept only when it is a stream.
    expect(await discoverStreams(redis, [`${prefix}:hallo`, `${prefix}:orders:notastream`, `${prefix}:missing`])).toEqual([`${prefix}:hallo`]);
  });
});
