import Redis from 'ioredis';
import { isBusyGroup, isNoGroup, isNoSuchKey, isReplyError, isScriptRefused, isWrongType, redisErrorCode } from '../src/redis-errors';
import { SHARED_REDIS_URL, useSharedRedis } from '../../../test-support/redis';

describe('Redis error replies recognised by their code (real replies of the shared Redis)', () => {
  const { prefix, redis } = useSharedRedis('core-errors');
  const fail = (p: Promise<unknown>): Promise<unknown> => p.then(() => { throw new Error('expected an error reply'); }, (e: unknown) => e);

  test('NOGROUP, BUSYGROUP, WRONGTYPE, no such key, NOSCRIPT: each recognised, none mistaken for another', async () => {
    const s = `${prefix}:s`;
    await redis.xgroup('CREATE', s, 'g', '$', 'MKSTREAM');
    await redis.set(`${prefix}:str`, 'x');
    const noGroup = await fail(redis.xreadgroup('GROUP', 'missing', 'c', 'STREAMS', s, '>'));
    const busy = await fail(redis.xgroup('CREATE', s, 'g', '$'));
    const wrongType = await fail(redis.xlen(`${prefix}:str`));
    const noKey = await fail(redis.xinfo('STREAM', `${prefix}:missing`));
    const noScript = await fail(redis.evalsha('0'.repeat(40), 0));
    expect([noGroup, busy, wrongType, noKey, noScript].map(redisErrorCode)).toEqual(['NOGROUP', 'BUSYGROUP', 'WRONGTYPE', 'ERR', 'NOSCRIPT']);
    expect([noGroup, busy, wrongType, noKey, noScript].map(isNoGroup)).toEqual([true, false, false, false, false]);
    expect([noGroup, busy, wrongType, noKey, noScript].map(isBusyGroup)).toEqual([false, true, false, false, false]);
    expect([noGroup, busy, wrongType, noKey, noScript].map(isWrongType)).toEqual([false, false, true, false, false]);
    expect([noGroup, busy, wrongType, noKey, noScript].map(isNoSuchKey)).toEqual([false, false, false, true, false]);
    expect([noGroup, busy, wrongType, noKey, noScript].map(isScriptRefused)).toEqual([false, false, false, false, false]);
  });

  test('an error raised by redis.call inside a script keeps its code', async () => {
    const err = await fail(redis.eval("return redis.call('XREADGROUP', 'GROUP', 'missing', 'c', 'STREAMS', KEYS[1], '>')", 1, `${prefix}:s2`));
    expect(isNoGroup(err)).toBe(true);
  });

  test('not an error reply: a connection failure, a plain Error whose text looks like one, a non-Error', async () => {
    const closed = new Redis(SHARED_REDIS_URL, { lazyConnect: true, enableOfflineQueue: false });
    const offline = await fail(closed.ping());
    closed.disconnect();
    for (const e of [offline, new Error('NOGROUP lookalike'), 'NOGROUP', undefined]) {
      expect(isReplyError(e)).toBe(false);
      expect(redisErrorCode(e)).toBeUndefined();
      expect(isNoGroup(e)).toBe(false);
    }
    // The project's own connections name their error replies ReplyError: recognised the same way.
    const own = Object.assign(new Error('NOGROUP No such key'), { name: 'ReplyError' });
    expect(isNoGroup(own)).toBe(true);
  });
});
