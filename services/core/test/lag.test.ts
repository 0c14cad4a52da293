/**
 * core/streams/lag: the pure estimator (every Redis version's reply shape), readGroupBacklog's
 * statuses, discovery, and a group destroyed between the two pipelined rounds (real shared Redis,
 * unique keys; the race is forced by running the destroy just before round 2 is sent).
 */
import Redis from 'ioredis';
import {
  COMMANDS_BATCH,
  SCRIPT_BATCH,
  compareEntryIds,
  compareIds,
  discoverStreams,
  entriesToRead,
  ioredisTransport,
  readAllBacklogsOver,
  nextEntryId,
  parseGroupsInfo,
  parseStreamInfo,
  readAllBacklogs,
  readGroupBacklog,
  resolveLag,
  type GroupInfo,
  type StreamInfo,
} from '../src/index';
import { PrivateRedis, SHARED_REDIS_URL, useSharedRedis } from '../../../test-support/redis';

const NOW = 1_700_000_000_000;
const at = (s: number): string => `${NOW - s * 1000}-0`;

describe('the lag estimator (pure)', () => {
  const stream: StreamInfo = { length: 1000, firstEntryId: at(1000), lastEntryId: at(1), entriesAdded: undefined };
  const group = (lastDeliveredId: string, lag: number | null | undefined, entriesRead?: number | null): GroupInfo => ({
    name: 'g', consumers: 1, pending: 0, lastDeliveredId, lag, entriesRead,
  });

  test('Redis lag trusted only when consistent with the position; otherwise recomputed and flagged', () => {
    expect(resolveLag(stream, group(at(1), 0), undefined)).toEqual({ lag: 0, lagEstimated: false, firstUndeliveredId: null });
    expect(resolveLag(stream, group(at(1), 5), undefined)).toEqual({ lag: 0, lagEstimated: true, firstUndeliveredId: null });
    expect(resolveLag(stream, group('0-0', 1000), undefined)).toEqual({ lag: 1000, lagEstimated: false, firstUndeliveredId: at(1000) });
    expect(resolveLag(stream, group('0-0', 1500), undefined)).toEqual({ lag: 1000, lagEstimated: true, firstUndeliveredId: at(1000) });
    expect(resolveLag(stream, group(at(500), 499), [at(499)])).toEqual({ lag: 499, lagEstimated: false, firstUndeliveredId: at(499) });
    // In the middle, 0 or ≥ length are impossible: counted instead (here 3 ids seen under a cap of 100).
    expect(entriesToRead(stream, group(at(500), 0), 100)).toBe(100);
    expect(resolveLag(stream, group(at(500), 0), [at(3), at(2), at(1)], 100)).toEqual({ lag: 3, lagEstimated: true, firstUndeliveredId: at(3) });
  });

  test('Redis < 7 (SIMULATED reply without lag/entries-read): count under the cap is exact; at the cap the rest is extrapolated from id-time density', () => {
    const [g] = parseGroupsInfo([['name', 'g', 'consumers', 1, 'pending', 0, 'last-delivered-id', at(500)]]);
    expect(g!.lag).toBeUndefined();
    expect(entriesToRead(stream, g!, 100)).toBe(100);
    // 1000 entries, one per second, 1000 s .. 1 s old; the group is at 500 s: truly 499 wait.
    const scanned = Array.from({ length: 100 }, (_, i) => at(499 - i)); // 499 .. 400
    // extrapolation: 100 counted + 1000 × (last ms − 400 s ms) / (span 999 s) = 100 + round(1000 × 399 / 999) = 100 + 399 = 499
    expect(resolveLag(stream, g!, scanned, 100)).toEqual({ lag: 499, lagEstimated: true, firstUndeliveredId: at(499) });
    // Bounded by entries-added − entries-read when Redis gives both, and never below the counted entries.
    const withCounters: StreamInfo = { ...stream, entriesAdded: 2000 };
    expect(resolveLag(withCounters, { ...g!, lag: null, entriesRead: 1800 }, scanned, 100).lag).toBe(200);
    expect(resolveLag(withCounters, { ...g!, lag: null, entriesRead: 1990 }, scanned, 100).lag).toBe(100);
  });

  test('no time spread to interpolate on: the conservative upper bound length − 1, never 0', () => {
    const same: StreamInfo = { length: 50, firstEntryId: `${NOW}-0`, lastEntryId: `${NOW}-49`, entriesAdded: undefined };
    const ids = Array.from({ length: 10 }, (_, i) => `${NOW}-${i + 10}`);
    expect(resolveLag(same, group(`${NOW}-9`, undefined), ids, 10)).toEqual({ lag: 49, lagEstimated: true, firstUndeliveredId: `${NOW}-10` });
  });

  test('compareIds (strings) agrees with compareEntryIds (BigInt) on canonical ids, and falls back to it otherwise', () => {
    const ids = ['0-0', '0-1', '1-0', '9-9', '10-0', '10-10', '123-18446744073709551615', '124-0', '1700000000000-0', '1700000000000-99', '1700000000001-5',
      '18446744073709551615-18446744073709551614', '18446744073709551615-18446744073709551615', '01-0', '1-01'];
    for (const a of ids) for (const b of ids) expect([a, b, Math.sign(compareIds(a, b))]).toEqual([a, b, Math.sign(compareEntryIds(a, b))]);
    for (let i = 0; i < 2000; i++) {
      const r = (): string => `${Math.floor(Math.random() * 10 ** (1 + Math.floor(Math.random() * 14)))}-${Math.floor(Math.random() * 10 ** Math.floor(Math.random() * 6))}`;
      const [a, b] = [r(), r()];
      expect([a, b, compareIds(a, b)]).toEqual([a, b, compareEntryIds(a, b)]);
    }
  });

  test('parses Redis 7 replies with NULL lag; next id after the maximum sequence', () => {
    const s = parseStreamInfo(['length', 2, 'entries-added', 5, 'first-entry', ['1-0', ['a', 'b']], 'last-entry', ['2-0', ['a', 'b']]]);
    expect(s).toEqual({ length: 2, firstEntryId: '1-0', lastEntryId: '2-0', entriesAdded: 5 });
    const [g] = parseGroupsInfo([['name', 'g', 'consumers', 0, 'pending', 0, 'last-delivered-id', '1-0', 'entries-read', null, 'lag', null]]);
    expect([g!.lag, g!.entriesRead]).toEqual([null, null]);
    expect(nextEntryId('5-18446744073709551615')).toBe('6-0');
    expect(nextEntryId('5-7')).toBe('5-8');
    expect(nextEntryId('5-999999999999999')).toBe('5-1000000000000000'); // 15 digits: the Number path
    expect(nextEntryId('5-9999999999999999')).toBe('5-10000000000000000'); // 16 digits: BigInt
    expect(nextEntryId('18446744073709551615-9')).toBe('18446744073709551615-10');
  });
});

describe('readGroupBacklog / readAllBacklogs / discoverStreams (shared Redis)', () => {
  const { prefix, redis } = useSharedRedis('core-lag');

  test('statuses: no-stream (0), no-group (whole stream, age of the first entry), ok; a non-stream key throws', async () => {
    const s = `${prefix}:s1`;
    expect(await readGroupBacklog(redis, s, 'g', NOW)).toEqual({ status: 'no-stream' });
    await redis.xadd(s, at(12), 'n', '1');
    await redis.xadd(s, at(6), 'n', '2');
    expect(await readGroupBacklog(redis, s, 'g', NOW)).toEqual({ status: 'no-group', streamLength: 2, lagSeconds: 12 });
    await redis.xgroup('CREATE', s, 'g', '0');
    expect(await readGroupBacklog(redis, s, 'g', NOW)).toEqual({
      status: 'ok',
      backlog: { stream: s, group: 'g', streamLength: 2, lag: 2, lagEstimated: false, lagSeconds: 12, pending: 0, oldestPendingSeconds: 0, outstanding: 2, consumers: 0 },
    });
    await redis.set(`${prefix}:str`, 'x');
    await expect(readGroupBacklog(redis, `${prefix}:str`, 'g')).rejects.toThrow(/WRONGTYPE/);
  });

  test('discoverStreams: glob patterns via SCAN TYPE stream, plain names only when they are streams', async () => {
    await redis.xadd(`${prefix}:d:a`, '*', 'n', '1');
    await redis.xadd(`${prefix}:d:b`, '*', 'n', '1');
    await redis.set(`${prefix}:d:notastream`, 'x');
    expect(await discoverStreams(redis, [`${prefix}:d:*`])).toEqual([`${prefix}:d:a`, `${prefix}:d:b`]);
    expect(await discoverStreams(redis, [`${prefix}:d:a`, `${prefix}:d:notastream`, `${prefix}:d:missing`, `${prefix}:d:?`])).toEqual([`${prefix}:d:a`, `${prefix}:d:b`]);
  });

  test('commands mode: a group destroyed between round 1 and round 2 is left out; the other groups are intact', async () => {
    const s = `${prefix}:race`;
    for (const a of [30, 20, 10]) await redis.xadd(s, at(a), 'n', String(a));
    await redis.xgroup('CREATE', s, 'stays', '0');
    await redis.xgroup('CREATE', s, 'goes', '0');
    await redis.xreadgroup('GROUP', 'goes', 'c', 'COUNT', 1, 'STREAMS', s, '>'); // pending 1: round 2 asks XPENDING
    await redis.xreadgroup('GROUP', 'stays', 'c', 'COUNT', 1, 'STREAMS', s, '>');
    const admin = new Redis(SHARED_REDIS_URL);
    let pipelines = 0;
    // A client whose second pipeline first lets another client destroy the group (forcing the race).
    const racing = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop !== 'pipeline') return Reflect.get(target, prop, receiver);
        return () => {
          const p = target.pipeline();
          if (++pipelines === 2) {
            const exec = p.exec.bind(p);
            p.exec = (async () => {
              await admin.xgroup('DESTROY', s, 'goes');
              return exec();
            }) as typeof p.exec;
          }
          return p;
        };
      },
    });
    try {
      const [res] = await readAllBacklogs(racing, [s], { nowMs: NOW, mode: 'commands' });
      expect(pipelines).toBe(2);
      expect(res!.groups.map((g) => [g.group, g.lag, g.pending, g.lagSeconds, g.oldestPendingSeconds])).toEqual([['stays', 2, 1, 20, 30]]);
    } finally {
      admin.disconnect();
    }
  });
});

test('an ACL user without scripting (private redis-server): readAllBacklogs falls back to plain commands, same figures, tried once', async () => {
  const server = await PrivateRedis.start();
  const admin = new Redis(server.url);
  const user = new Redis(server.url.replace('redis://', 'redis://nolua:pw@'));
  try {
    await admin.acl('SETUSER', 'nolua', 'on', '>pw', '~*', '+@all', '-@scripting');
    for (const a of [50, 40, 30, 20, 10]) await admin.xadd('s', at(a), 'n', String(a));
    await admin.xgroup('CREATE', 's', 'g', '0');
    await admin.xreadgroup('GROUP', 'g', 'c', 'COUNT', 2, 'STREAMS', 's', '>');
    await admin.xdel('s', at(20)); // NULL lag: counted
    const viaScript = await readAllBacklogs(admin, ['s'], { nowMs: NOW });
    const fallback = await readAllBacklogs(user, ['s'], { nowMs: NOW });
    const again = await readAllBacklogs(user, ['s'], { nowMs: NOW });
    expect(viaScript[0]!.groups[0]).toEqual({ stream: 's', group: 'g', streamLength: 4, lag: 2, lagEstimated: true, lagSeconds: 30, pending: 2, oldestPendingSeconds: 50, outstanding: 4, consumers: 1 });
    expect(fallback).toEqual(viaScript);
    expect(again).toEqual(viaScript);
    const stats = await admin.info('commandstats');
    // ioredis sends EVAL the first time on a connection, EVALSHA after: count both.
    const sum = (field: string) => [...stats.matchAll(new RegExp(`cmdstat_eval(?:sha)?:.*?${field}=(\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
    expect(sum('rejected_calls')).toBe(1); // the ACL user tried the script once, then the fallback was remembered
    expect(sum('calls')).toBe(1); // the admin's run
  } finally {
    user.disconnect();
    admin.disconnect();
    await server.stop();
  }
});

describe('readAllBacklogsOver and the script: many streams, in parts', () => {
  const { prefix, redis } = useSharedRedis('core-lag-parts');

  test('more streams than a batch: parts come through onStreams in stream order and make up the result; script, commands agree', async () => {
    const n = Math.max(COMMANDS_BATCH, SCRIPT_BATCH) * 2 + 3;
    const streams: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = `${prefix}:${String(i).padStart(3, '0')}`;
      streams.push(s);
      if (i % 7 === 3) continue; // missing: left out
      for (const a of [30, 20, 10]) await redis.xadd(s, at(a + i), 'n', String(a));
      await redis.xgroup('CREATE', s, 'g', '0');
      if (i % 2 === 0) await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 1, 'STREAMS', s, '>');
    }
    const run = async (read: (onStreams: (p: unknown[]) => void) => Promise<unknown[]>) => {
      const parts: unknown[][] = [];
      const all = await read((p) => parts.push(p));
      expect(parts.length).toBeGreaterThan(1);
      expect(parts.flat()).toEqual(all);
      return all;
    };
    const viaScript = await run((onStreams) => readAllBacklogs(redis, streams, { nowMs: NOW, onStreams }));
    expect(viaScript.map((s) => (s as { stream: string }).stream)).toEqual(streams.filter((_, i) => i % 7 !== 3));
    expect(await run((onStreams) => readAllBacklogs(redis, streams, { nowMs: NOW, mode: 'commands', onStreams }))).toEqual(viaScript);
    expect(await run((onStreams) => readAllBacklogsOver(ioredisTransport(redis), streams, { nowMs: NOW, onStreams }))).toEqual(viaScript);
  });
});

test('an ACL user without MULTI reads without it (remembered), same figures; one without XINFO fails the read (EXECABORT), never a silent gap', async () => {
  const server = await PrivateRedis.start();
  const admin = new Redis(server.url);
  const nomulti = new Redis(server.url.replace('redis://', 'redis://nomulti:pw@'));
  const noxinfo = new Redis(server.url.replace('redis://', 'redis://noxinfo:pw@'));
  try {
    await admin.acl('SETUSER', 'nomulti', 'on', '>pw', '~*', '+@all', '-multi', '-exec');
    await admin.acl('SETUSER', 'noxinfo', 'on', '>pw', '~*', '+@all', '-xinfo');
    for (const a of [50, 40, 30, 20, 10]) await admin.xadd('s', at(a), 'n', String(a));
    await admin.xgroup('CREATE', 's', 'g', '0');
    await admin.xreadgroup('GROUP', 'g', 'c', 'COUNT', 2, 'STREAMS', 's', '>');
    const expected = await readAllBacklogsOver(ioredisTransport(admin), ['s'], { nowMs: NOW });
    expect(expected[0]!.groups[0]).toEqual({ stream: 's', group: 'g', streamLength: 5, lag: 3, lagEstimated: false, lagSeconds: 30, pending: 2, oldestPendingSeconds: 50, outstanding: 5, consumers: 1 });
    const t = ioredisTransport(nomulti);
    expect(await readAllBacklogsOver(t, ['s'], { nowMs: NOW })).toEqual(expected);
    expect(t.multiRefused).toBe(true);
    expect(await readAllBacklogsOver(t, ['s'], { nowMs: NOW })).toEqual(expected);
    await expect(readAllBacklogsOver(ioredisTransport(noxinfo), ['s'], { nowMs: NOW })).rejects.toThrow(/EXECABORT/);
  } finally {
    nomulti.disconnect();
    noxinfo.disconnect();
    admin.disconnect();
    await server.stop();
  }
});
