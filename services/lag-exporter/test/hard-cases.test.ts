/**
 * Must show 1: one row per hard case, against the real (shared) Redis with unique keys. Each row
 * builds a stream with explicit ids (`<ms>-0`, ages known to the second against a fixed clock),
 * scrapes the collector through prom-client's text output and compares EVERY exported metric with
 * the value computed by hand in the row. Redis' command log (MONITOR, filtered to the row's key)
 * shows what one scrape costs: never `XINFO CONSUMERS`; commands grow with groups, not entries. Every
 * row runs in every read mode: `resp` (the default: plain commands on the scrape's own RESP connection),
 * `auto` (Lua scripts on the ioredis connection) and `commands` (plain commands on the ioredis connection).
 *
 * Redis < 7 cannot run here: its row is the pure estimator on an XINFO reply without `lag` and
 * `entries-read` (see lag-estimator.test.ts in services/core and the simulated row at the bottom).
 */
import Redis from 'ioredis';
import { createRegistry, parseGroupsInfo, parseStreamInfo, buildGroupBacklog } from '@stream-workers/core';
import { LagCollector } from '../src/collector';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { captureLogger, parseMetrics, samples, value } from './support/metrics';

const NOW = 1_700_000_000_000;
/** Id of an entry `s` seconds old at NOW. */
const at = (s: number): string => `${NOW - s * 1000}-0`;

/** Per group: every group metric, by hand. */
interface Expect {
  lag: number;
  lagSeconds: number;
  pending: number;
  oldestPendingSeconds: number;
  outstanding: number;
  consumers: number;
  estimated: 0 | 1;
}
interface Row {
  name: string;
  setup(r: Redis, key: string): Promise<void>;
  length: number;
  groups: Record<string, Expect>;
}

async function add(r: Redis, key: string, ...ages: number[]): Promise<void> {
  for (const a of ages) await r.xadd(key, at(a), 'n', String(a));
}

const ROWS: Row[] = [
  {
    name: 'empty stream (group created with MKSTREAM): everything 0, exact',
    setup: async (r, k) => {
      await r.xgroup('CREATE', k, 'g', '$', 'MKSTREAM');
    },
    length: 0,
    groups: { g: { lag: 0, lagSeconds: 0, pending: 0, oldestPendingSeconds: 0, outstanding: 0, consumers: 0, estimated: 0 } },
  },
  {
    name: 'group at $ (nothing waits) and group at 0 (2 read, 3 waiting)',
    setup: async (r, k) => {
      await add(r, k, 50, 40, 30, 20, 10);
      await r.xgroup('CREATE', k, 'atEnd', '$');
      await r.xgroup('CREATE', k, 'atStart', '0');
      await r.xreadgroup('GROUP', 'atStart', 'c1', 'COUNT', 2, 'STREAMS', k, '>'); // 50 s and 40 s pending
    },
    length: 5,
    groups: {
      atEnd: { lag: 0, lagSeconds: 0, pending: 0, oldestPendingSeconds: 0, outstanding: 0, consumers: 0, estimated: 0 },
      atStart: { lag: 3, lagSeconds: 30, pending: 2, oldestPendingSeconds: 50, outstanding: 5, consumers: 1, estimated: 0 },
    },
  },
  {
    name: 'XDEL inside the unread range: Redis lag NULL → counted (6), flagged; unread group behind = whole stream (9), flagged',
    setup: async (r, k) => {
      await add(r, k, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10);
      await r.xgroup('CREATE', k, 'g', '0');
      await r.xgroup('CREATE', k, 'unread', '0');
      await r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 3, 'STREAMS', k, '>'); // 100, 90, 80
      await r.xack(k, 'g', at(100)); // pending: 90, 80
      await r.xdel(k, at(50)); // unread now: 70 60 40 30 20 10
    },
    length: 9,
    groups: {
      g: { lag: 6, lagSeconds: 70, pending: 2, oldestPendingSeconds: 90, outstanding: 8, consumers: 1, estimated: 1 },
      unread: { lag: 9, lagSeconds: 100, pending: 0, oldestPendingSeconds: 0, outstanding: 9, consumers: 0, estimated: 1 },
    },
  },
  {
    name: 'XTRIM past unread entries: Redis 7.0 says lag 7 for 4 entries → 4, flagged; a never-read group gets the exact 4',
    setup: async (r, k) => {
      await add(r, k, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10);
      await r.xgroup('CREATE', k, 'g', '0');
      await r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 3, 'STREAMS', k, '>'); // 100 90 80 pending
      await r.xgroup('CREATE', k, 'fresh', '0');
      await r.xtrim(k, 'MAXLEN', 4); // left: 40 30 20 10; 70 60 50 never delivered and gone
    },
    length: 4,
    groups: {
      // Pending entries stay in the PEL after the trim: the oldest pending id is still 100 s old.
      g: { lag: 4, lagSeconds: 40, pending: 3, oldestPendingSeconds: 100, outstanding: 7, consumers: 1, estimated: 1 },
      fresh: { lag: 4, lagSeconds: 40, pending: 0, oldestPendingSeconds: 0, outstanding: 4, consumers: 0, estimated: 0 },
    },
  },
  {
    name: 'XSETID forward past the last entry, then one more entry: lag 1 from the new entry only',
    setup: async (r, k) => {
      await add(r, k, 30, 20, 10);
      await r.xgroup('CREATE', k, 'g', '0');
      await r.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', k, '>');
      await r.xack(k, 'g', at(30), at(20), at(10));
      await r.xsetid(k, at(8));
      await add(r, k, 4);
    },
    length: 4,
    groups: { g: { lag: 1, lagSeconds: 4, pending: 0, oldestPendingSeconds: 0, outstanding: 1, consumers: 1, estimated: 0 } },
  },
  {
    name: 'readers ahead of a trimmed (now empty) stream: done group exact 0; group set to a future id: Redis NULL → 0, flagged',
    setup: async (r, k) => {
      await add(r, k, 50, 40, 30, 20, 10);
      await r.xgroup('CREATE', k, 'done', '0');
      await r.xreadgroup('GROUP', 'done', 'c1', 'COUNT', 10, 'STREAMS', k, '>');
      await r.xack(k, 'done', at(50), at(40), at(30), at(20), at(10));
      await r.xtrim(k, 'MAXLEN', 0);
      await r.xgroup('CREATE', k, 'ahead', `${NOW + 60_000}-0`);
    },
    length: 0,
    groups: {
      done: { lag: 0, lagSeconds: 0, pending: 0, oldestPendingSeconds: 0, outstanding: 0, consumers: 1, estimated: 0 },
      ahead: { lag: 0, lagSeconds: 0, pending: 0, oldestPendingSeconds: 0, outstanding: 0, consumers: 0, estimated: 1 },
    },
  },
  {
    name: 'reader ahead of a trimmed stream that grows again: only the entry after its id counts',
    setup: async (r, k) => {
      await add(r, k, 50, 40, 30);
      await r.xgroup('CREATE', k, 'g', '$');
      await r.xtrim(k, 'MAXLEN', 1); // left: 30; the group is past it
      await add(r, k, 20);
    },
    length: 2,
    groups: { g: { lag: 1, lagSeconds: 20, pending: 0, oldestPendingSeconds: 0, outstanding: 1, consumers: 0, estimated: 0 } },
  },
  {
    name: '3000 consumers: count from XINFO GROUPS, never XINFO CONSUMERS',
    setup: async (r, k) => {
      await add(r, k, 20, 10);
      await r.xgroup('CREATE', k, 'g', '0');
      const p = r.pipeline();
      for (let i = 0; i < 3000; i++) p.xgroup('CREATECONSUMER', k, 'g', `c${i}`);
      await p.exec();
      await r.xreadgroup('GROUP', 'g', 'c7', 'COUNT', 1, 'STREAMS', k, '>'); // 20 s pending
    },
    length: 2,
    groups: { g: { lag: 1, lagSeconds: 10, pending: 1, oldestPendingSeconds: 20, outstanding: 2, consumers: 3000, estimated: 0 } },
  },
];

describe('lag exporter hard cases (real Redis, every metric vs hand-computed values)', () => {
  const prefix = uniquePrefix('lagx-hard');
  let admin: Redis;
  let redis: Redis;
  let monitorBase: Redis;
  let monitor: Redis;
  const seen: string[][] = [];

  beforeAll(async () => {
    admin = new Redis(SHARED_REDIS_URL);
    redis = new Redis(SHARED_REDIS_URL);
    monitorBase = new Redis(SHARED_REDIS_URL);
    monitor = await monitorBase.monitor();
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a.startsWith(prefix))) seen.push(args);
    });
  });
  afterAll(async () => {
    monitor.disconnect();
    monitorBase.disconnect();
    await deleteKeys(admin, prefix);
    admin.disconnect();
    redis.disconnect();
  });

  let sentinels = 0;
  /** Waits until MONITOR has shown every command sent so far (a sentinel command came through); returns the log length. */
  async function sync(): Promise<number> {
    const sentinel = `${prefix}:sentinel:${++sentinels}`;
    await admin.exists(sentinel);
    for (let i = 0; i < 500 && !seen.some((c) => c.includes(sentinel)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen.some((c) => c.includes(sentinel))).toBe(true);
    return seen.length;
  }
  /** Commands Redis ran on `key` from `from` on. */
  async function commandsSince(from: number, key: string): Promise<string[][]> {
    const to = await sync();
    return seen.slice(from, to).filter((c) => c.includes(key) && !c.some((a) => a.includes(':sentinel:')));
  }

  const MODES = ['resp', 'auto', 'commands'] as const;
  test.each(MODES.flatMap((mode) => ROWS.map((r) => [mode, r.name, r] as const)))('[%s] %s', async (mode, _name, row) => {
    const key = `${prefix}:${mode}:${ROWS.indexOf(row)}`;
    await row.setup(admin, key);
    const registry = createRegistry({ processMetrics: false });
    const { logger } = captureLogger();
    const collector = new LagCollector({ redis, registry, logger, streams: [key], now: () => NOW, mode });
    const from = await sync();
    const all = parseMetrics(await registry.metrics());
    collector.close();

    expect(value(all, 'stream_workers_exporter_up')).toBe(1);
    expect(value(all, 'stream_workers_stream_length', { stream: key })).toBe(row.length);
    const exported = samples(all, 'stream_workers_group_outstanding', { stream: key }).map((s) => s.labels.group).sort();
    expect(exported).toEqual(Object.keys(row.groups).sort());
    for (const [group, e] of Object.entries(row.groups)) {
      const l = { stream: key, group };
      const got = {
        lag: value(all, 'stream_workers_group_lag', l),
        lagSeconds: value(all, 'stream_workers_group_lag_seconds', l),
        pending: value(all, 'stream_workers_group_pending', l),
        oldestPendingSeconds: value(all, 'stream_workers_group_oldest_pending_seconds', l),
        outstanding: value(all, 'stream_workers_group_outstanding', l),
        consumers: value(all, 'stream_workers_group_consumers', l),
        estimated: value(all, 'stream_workers_group_lag_estimated', l),
      };
      expect({ group, ...got }).toEqual({ group, ...e });
    }

    const cmds = await commandsSince(from, key);
    const names = cmds.map((c) => c.slice(0, 2).join(' ').toLowerCase());
    expect(names.filter((n) => n.startsWith('xinfo') && n !== 'xinfo stream' && n !== 'xinfo groups')).toEqual([]);
    const g = Object.keys(row.groups).length;
    if (mode !== 'auto') expect(cmds.length).toBeLessThanOrEqual(2 + 2 * g); // XINFO ×2 per stream (in MULTI/EXEC); XRANGE, XPENDING per group
    else {
      // One EVALSHA per 16 streams; inside it XINFO GROUPS, XLEN, XRANGE (first id), XREVRANGE at most once, and per group at most XRANGE and XPENDING.
      expect(names.filter((n) => n.startsWith('evalsha') || n.startsWith('eval '))).toHaveLength(1);
      expect(cmds.length).toBeLessThanOrEqual(5 + 2 * g);
    }
  });

  test('stream deleted and group destroyed between discovery and read: their series vanish, the rest stays exact', async () => {
    const a = `${prefix}:race:a`;
    const b = `${prefix}:race:b`;
    await add(admin, a, 20, 10);
    await admin.xgroup('CREATE', a, 'g', '0');
    await add(admin, b, 30, 20, 10);
    await admin.xgroup('CREATE', b, 'g1', '0');
    await admin.xgroup('CREATE', b, 'g2', '$');
    const registry = createRegistry({ processMetrics: false });
    const { logger } = captureLogger();
    const collector = new LagCollector({ redis, registry, logger, streams: [`${prefix}:race:*`], discoveryIntervalMs: 3_600_000, now: () => NOW });
    let all = parseMetrics(await registry.metrics());
    expect(samples(all, 'stream_workers_group_outstanding').filter((x) => x.labels.stream!.startsWith(prefix)).map((x) => `${x.labels.stream}/${x.labels.group}=${x.value}`).sort())
      .toEqual([`${a}/g=2`, `${b}/g1=3`, `${b}/g2=0`]);

    await admin.del(a);
    await admin.xgroup('DESTROY', b, 'g1');
    const from = await sync();
    all = parseMetrics(await registry.metrics());
    // The discovery is cached (1 h), so the deleted stream was still read: the race really happened.
    const cmds = await commandsSince(from, a);
    expect(cmds.length).toBeGreaterThan(0);
    expect(collector.last?.ok).toBe(true);
    expect(value(all, 'stream_workers_exporter_up')).toBe(1);
    expect(samples(all, 'stream_workers_stream_length').filter((x) => x.labels.stream!.startsWith(prefix)).map((x) => x.labels.stream)).toEqual([b]);
    for (const m of ['group_lag', 'group_lag_seconds', 'group_pending', 'group_oldest_pending_seconds', 'group_outstanding', 'group_consumers', 'group_lag_estimated']) {
      expect(samples(all, `stream_workers_${m}`).filter((x) => x.labels.stream!.startsWith(prefix)).map((x) => `${x.labels.stream}/${x.labels.group}`)).toEqual([`${b}/g2`]);
    }
    expect(value(all, 'stream_workers_group_lag', { stream: b, group: 'g2' })).toBe(0);
    collector.close();
  });

  test('Redis < 7 (SIMULATED: the pure estimator on an XINFO reply without lag/entries-read fields)', () => {
    // A Redis 6.2 XINFO STREAM reply: no entries-added, max-deleted-entry-id or recorded-first-entry-id.
    const stream = parseStreamInfo([
      'length', 6, 'radix-tree-keys', 1, 'radix-tree-nodes', 2, 'last-generated-id', at(10), 'groups', 3,
      'first-entry', [at(60), ['n', '60']], 'last-entry', [at(10), ['n', '10']],
    ]);
    // XINFO GROUPS of Redis 6.2: name, consumers, pending, last-delivered-id only.
    const groups = parseGroupsInfo([
      ['name', 'mid', 'consumers', 2, 'pending', 1, 'last-delivered-id', at(40)],
      ['name', 'behind', 'consumers', 0, 'pending', 0, 'last-delivered-id', '0-0'],
      ['name', 'done', 'consumers', 1, 'pending', 0, 'last-delivered-id', at(10)],
    ]);
    expect(groups.map((g) => [g.lag, g.entriesRead])).toEqual([[undefined, undefined], [undefined, undefined], [undefined, undefined]]);
    // Round 2 would read the ids after mid's last-delivered-id: 30, 20, 10 (fewer than the cap: exact count).
    const mid = buildGroupBacklog('s', stream, groups[0]!, [at(30), at(20), at(10)], at(50), NOW);
    expect(mid).toEqual({ stream: 's', group: 'mid', streamLength: 6, lag: 3, lagEstimated: true, lagSeconds: 30, pending: 1, oldestPendingSeconds: 50, outstanding: 4, consumers: 2 });
    const behind = buildGroupBacklog('s', stream, groups[1]!, undefined, null, NOW);
    expect(behind).toMatchObject({ lag: 6, lagEstimated: true, lagSeconds: 60, outstanding: 6 });
    const done = buildGroupBacklog('s', stream, groups[2]!, undefined, null, NOW);
    expect(done).toMatchObject({ lag: 0, lagEstimated: true, lagSeconds: 0, outstanding: 0 });
  });
});
