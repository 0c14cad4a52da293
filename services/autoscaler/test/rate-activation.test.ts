/**
 * SCALING_MODE=rate's signal and the activation watch against the shared Redis (unique keys): the
 * counters come from real XADD / XREADGROUP / XACK, the clock of the rate window is simulated.
 */
import Redis from 'ioredis';
import { readGroupBacklog } from '@stream-workers/core';
import { RateSignal } from '../src/rate-signal';
import { ActivationWatch } from '../src/activation-watch';
import { captureLogger } from './support/helpers';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

describe('rate signal and activation watch (shared Redis, unique keys)', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  beforeEach(() => {
    prefix = uniquePrefix('rate');
  });
  afterEach(async () => {
    await deleteKeys(redis, prefix);
  });
  afterAll(() => redis.disconnect());

  /** Adds n entries; a consumer reads and acks `done` of the oldest undelivered ones. */
  async function step(stream: string, add: number, done: number): Promise<void> {
    const p = redis.pipeline();
    for (let i = 0; i < add; i++) p.xadd(stream, '*', 'i', String(i));
    await p.exec();
    if (done > 0) {
      const reply = (await redis.xreadgroup('GROUP', 'g', 'c1', 'COUNT', done, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const ids = reply?.[0]?.[1].map(([id]) => id) ?? [];
      if (ids.length) await redis.xack(stream, 'g', ...ids);
    }
  }

  test('measures λ and μ from the group counters and gives the rate count (lag count until μ is known)', async () => {
    const stream = `${prefix}:s`;
    await redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
    let t = 0;
    const { logger } = captureLogger();
    const signal = new RateSignal({ redis, stream, group: 'g', read: readGroupBacklog, logger, policy: { rateWindowS: 3, targetDrainS: 10 }, now: () => t });
    const first = await signal.read(1);
    expect(first.outstanding).toBe(0);
    expect(first.raw).toBeUndefined(); // no counters yet (entries-read is NULL on a fresh group): the lag count
    // One replica doing 20/s while 40/s arrive: entries wait at every sample, the window measures μ = 20.
    let last = first;
    for (let s = 1; s <= 5; s++) {
      await step(stream, 40, 20);
      t = s * 1000;
      last = await signal.read(1);
    }
    expect(last.detail).toMatchObject({ arrivalRate: 40, processedRate: 20, servicePerReplica: 20, saturated: true });
    // λ 40, waiting 100 → (40 + 100/10) / 20 = 2.5 → 3.
    expect(last.outstanding).toBe(100);
    expect(last.raw).toBe(3);
    expect(last.busy).toBe(true);
  });

  test('without a group the lag count applies (raw undefined) and outstanding is the stream length', async () => {
    const stream = `${prefix}:nogroup`;
    await redis.xadd(stream, '*', 'a', '1');
    const { logger } = captureLogger();
    const signal = new RateSignal({ redis, stream, group: 'g', read: readGroupBacklog, logger });
    const r = await signal.read(0);
    expect(r.outstanding).toBe(1);
    expect(r.raw).toBeUndefined();
  });

  test('activation watch: an entry added while idle wakes it through the blocking XREAD', async () => {
    const stream = `${prefix}:act`;
    const { logger, lines } = captureLogger();
    const conn = new Redis(SHARED_REDIS_URL);
    let woke = 0;
    const watch = new ActivationWatch({ redis: conn, stream, isIdle: () => true, onEntry: () => (woke += 1), logger, blockMs: 60_000 });
    watch.start();
    // The XREAD is blocked once the connection shows a blocked client; then one entry must wake it.
    await waitFor(async () => ((await redis.client('LIST')) as string).includes('cmd=xread'), 10_000, 20, 'the watch blocking in XREAD');
    const addedAt = Date.now();
    await redis.xadd(stream, '*', 'first', '1');
    await waitFor(() => woke > 0, 10_000, 5, 'the watch to wake');
    console.log(`activation watch woke ${Date.now() - addedAt} ms after XADD (figure, not asserted)`);
    expect(lines.some((l) => l.msg === 'activation watch: first entry at 0 replicas, deciding now')).toBe(true);
    await watch.close();
    expect(watch.wakeups).toBe(1);
  });

  test('activation watch makes no Redis call while replicas run', async () => {
    const stream = `${prefix}:busy`;
    const { logger } = captureLogger();
    const conn = new Redis(SHARED_REDIS_URL);
    let woke = 0;
    let checks = 0;
    const name = `watch-${prefix}`;
    await conn.client('SETNAME', name);
    const watch = new ActivationWatch({ redis: conn, stream, isIdle: () => (checks++, false), onEntry: () => (woke += 1), logger, idleCheckMs: 5 });
    watch.start();
    await redis.xadd(stream, '*', 'a', '1');
    // After ten idle checks the connection's last command is still the CLIENT SETNAME sent above.
    await waitFor(() => checks >= 10, 10_000, 5, 'ten idle checks');
    const info = ((await redis.client('LIST')) as string).split('\n').find((l) => l.includes(`name=${name}`)) ?? '';
    expect(info).toMatch(/cmd=client/);
    expect(woke).toBe(0);
    await watch.close();
  });
});
