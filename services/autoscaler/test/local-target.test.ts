/**
 * End to end with the local target: the real autoscaler binary starts and stops real worker processes
 * (`node services/worker/dist/main.js`) against the shared Redis with a unique stream. Their handler
 * is the recording handler (test-support/handlers: 5 ms of work per event, then one HINCRBY per
 * completed event id), so "0 lost" is counted event by event, not inferred from the group's ack
 * counters. Needs `npx tsc -b services/autoscaler services/worker` first. No timed assertion: the time
 * to drain and the replicas timeline are printed (and written to .tmp/autoscaler-local-e2e.txt), the
 * assertions are about counts and order.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { buildEvent, toFields } from '@stream-workers/core';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { REPO_ROOT, startService, waitFor, type ServiceProcess } from '../../../test-support/process';
import { RECORDING_HANDLER } from '../../../services/worker/test/support';

const EVENTS = 20_000;
const WORKER_MAIN = join(REPO_ROOT, 'services', 'worker', 'dist', 'main.js');
const AUTOSCALER_MAIN = join(REPO_ROOT, 'services', 'autoscaler', 'dist', 'main.js');

interface GroupInfo {
  lag: number | null;
  pending: number;
  entriesRead: number | null;
  consumers: number;
}

async function groupInfo(redis: Redis, stream: string, group: string): Promise<GroupInfo | undefined> {
  let raw: unknown[][];
  try {
    raw = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  } catch {
    return undefined;
  }
  for (const g of raw) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
    if (o.name === group) {
      return {
        lag: o.lag === null || o.lag === undefined ? null : Number(o.lag),
        pending: Number(o.pending),
        entriesRead: o['entries-read'] === null || o['entries-read'] === undefined ? null : Number(o['entries-read']),
        consumers: Number(o.consumers),
      };
    }
  }
  return undefined;
}

describe('local target end to end (real autoscaler + real worker processes)', () => {
  let redis: Redis;
  let prefix: string;
  let autoscaler: ServiceProcess | undefined;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  afterAll(async () => {
    autoscaler?.kill('SIGKILL');
    if (prefix) await deleteKeys(redis, prefix);
    await redis.quit();
  });

  test(
    `a burst of ${EVENTS} events (5 ms handlers, TARGET_PER_REPLICA 1000, MAX_REPLICAS 4): up to 4, drained with 0 lost, back to MIN_REPLICAS`,
    async () => {
      if (!existsSync(WORKER_MAIN) || !existsSync(AUTOSCALER_MAIN)) throw new Error('build first: npx tsc -b services/autoscaler services/worker');
      prefix = uniquePrefix('as-e2e');
      const stream = `${prefix}:events`;
      const group = 'workers';

      const record = `${prefix}:rec`;
      // The burst, before any worker exists: the group does not exist yet, so the whole stream counts.
      const pipeline = redis.pipeline();
      const eventIds = new Set<string>();
      for (let i = 0; i < EVENTS; i++) {
        const e = buildEvent({ source: 'autoscaler-e2e', type: 'burst', data: { n: i } });
        if (!e.ok) throw new Error(JSON.stringify(e.errors));
        eventIds.add(e.value.id);
        pipeline.xadd(stream, '*', ...toFields(e.value));
      }
      await pipeline.exec();
      expect(eventIds.size).toBe(EVENTS);
      expect(await redis.xlen(stream)).toBe(EVENTS);

      const started = Date.now();
      autoscaler = startService('autoscaler', {
        TARGET_KIND: 'local',
        STREAM: stream,
        GROUP: group,
        REDIS_URL: SHARED_REDIS_URL,
        PORT: '0',
        TARGET_PER_REPLICA: '1000',
        MIN_REPLICAS: '0',
        MAX_REPLICAS: '4',
        POLL_INTERVAL_MS: '500',
        COOLDOWN_S: '3',
        SCALE_DOWN_WINDOW_S: '3',
        JANITOR_INTERVAL_MS: '1000',
        // inherited by the workers: 5 ms handlers that record every completed event
        HANDLER: RECORDING_HANDLER,
        RECORD_KEY: record,
        RECORD_WORK_MS: '5',
        LOG_LEVEL: 'info',
      });
      const proc = autoscaler;
      await proc.waitForLog((l) => l.msg === 'autoscaler started', 30_000);

      // Drained: every entry delivered (entries-read = length) and acknowledged (pending 0).
      let drainedAt = 0;
      await waitFor(
        async () => {
          const g = await groupInfo(redis, stream, group);
          if (g && g.entriesRead === EVENTS && g.lag === 0 && g.pending === 0) {
            drainedAt = Date.now();
            return true;
          }
          return false;
        },
        300_000,
        100,
        'backlog drained',
      );
      // Back to MIN_REPLICAS (0) after the short cooldown.
      await proc.waitForLog((l) => typeof l.msg === 'string' && /^scaled down from \d+ to 0 replicas$/.test(l.msg), 120_000);
      await waitFor(async () => (await groupInfo(redis, stream, group))?.consumers === 0, 30_000, 100, 'consumers gone');

      proc.kill('SIGTERM');
      const exit = await proc.exited;
      autoscaler = undefined;

      const scaleLines = proc.logs.filter((l) => l.service === 'autoscaler' && typeof l.msg === 'string' && l.msg.startsWith('scaled '));
      const timeline = scaleLines.map((l) => ({ t: (Date.parse(String(l.time)) - started) / 1000, from: Number(l.current), to: Number(l.desired), outstanding: l.outstanding }));
      const dlq = await redis.xlen(`${stream}:dlq`);
      const g = (await groupInfo(redis, stream, group))!;
      // Counted per event: every event id the burst appended completed its handler at least once.
      const done = await redis.hgetall(`${record}:done`);
      const lost = [...eventIds].filter((id) => !(Number(done[id]) >= 1));
      const duplicates = Object.values(done).reduce((a, n) => a + Number(n) - 1, 0);
      const unknown = Object.keys(done).filter((id) => !eventIds.has(id));
      const report = [
        `local target e2e: ${EVENTS} events, 5 ms handlers (recording), TARGET_PER_REPLICA=1000, MAX_REPLICAS=4, POLL_INTERVAL_MS=500, COOLDOWN_S=3, SCALE_DOWN_WINDOW_S=3`,
        `events: ${EVENTS} appended, ${Object.keys(done).length} processed, ${lost.length} lost, ${duplicates} duplicate runs`,
        `time to drain: ${((drainedAt - started) / 1000).toFixed(1)} s (from autoscaler start to lag 0 + pending 0)`,
        `replicas timeline: ${timeline.map((e) => `t+${e.t.toFixed(1)}s ${e.from}→${e.to} (outstanding ${String(e.outstanding)})`).join(', ')}`,
        `group: entries-read ${g.entriesRead}, lag ${g.lag}, pending ${g.pending}, consumers ${g.consumers}; dead-letter ${dlq}; autoscaler exit ${JSON.stringify(exit)}`,
      ].join('\n');
      console.log(report);
      mkdirSync(join(REPO_ROOT, '.tmp'), { recursive: true });
      writeFileSync(join(REPO_ROOT, '.tmp', 'autoscaler-local-e2e.txt'), `${report}\n`);

      expect(Math.max(...timeline.map((e) => e.to))).toBe(4); // rose to MAX_REPLICAS, never above
      expect(timeline[0]).toMatchObject({ from: 0, to: 4 }); // from zero straight to 4 (+4 per 15 s)
      expect(timeline.at(-1)!.to).toBe(0); // back to MIN_REPLICAS
      // Every scale-down came after the last scale-up (no flapping during the drain).
      const lastUp = timeline.map((e) => e.to > e.from).lastIndexOf(true);
      expect(timeline.slice(lastUp + 1).every((e) => e.to < e.from)).toBe(true);
      // 0 lost: every event's handler completed (counted per event id), every entry acknowledged, none dead-lettered.
      expect(lost).toEqual([]);
      expect(unknown).toEqual([]);
      expect(Object.keys(done)).toHaveLength(EVENTS);
      expect(g).toMatchObject({ entriesRead: EVENTS, lag: 0, pending: 0, consumers: 0 });
      expect(dlq).toBe(0);
      expect(exit.code).toBe(0);
      // The workers were started by the autoscaler with PORT=0 and unique consumers.
      const workerConsumers = new Set(proc.logs.filter((l) => l.msg === 'started worker process').map((l) => l.consumer));
      expect(workerConsumers.size).toBeGreaterThanOrEqual(4);
    },
    420_000,
  );
});
