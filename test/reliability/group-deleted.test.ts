/**
 * Consumer group deleted and stream trimmed under load: 2 real worker processes (recording handler)
 * consume while the test XADDs 500 events/s. Three episodes, each watched through Redis' own
 * `INFO commandstats` and the workers' log lines:
 *   1. `XGROUP DESTROY` — the workers recreate the group at GROUP_START_ID (`0`) by themselves;
 *   2. `XTRIM <stream> MAXLEN 0` — everything in the stream is deleted under the workers' feet;
 *   3. `XGROUP DESTROY` while the workers may not recreate it (their ACL user loses `xgroup|create`
 *      until both workers were seen retrying, as with a least-privilege user whose group an operator manages), so the group stays
 *      missing long enough to see the retry rate; then the permission comes back.
 * Asserts: no hot loop (XREADGROUP and XGROUP CREATE attempts per worker and second bounded by the
 * worker's NOGROUP backoff while the group is missing; a few hundred per second at most under load),
 * a handful of warn lines per worker and episode, /readyz 503 while the group is missing; and by
 * counting: every event added after the trim is processed, everything left in the stream is
 * processed, duplicates ≤ what the stream held when the group was destroyed (recreated at `0`, the
 * whole stream is delivered again: the documented meaning of GROUP_START_ID).
 */
import Redis from 'ioredis';
import { waitFor, type ServiceProcess } from '../../test-support/process';
import { counts, groupState, waitDrained, workerPort } from '../../services/worker/test/support';
import { attemptsBetween, commandStats, eventFields, idsInStream, pause, privateRedisScenario, workerEnv, type CommandStat } from './support';

jest.setTimeout(240_000);

const STREAM = 'gone';
const GROUP = 'workers';
const WORKERS = 2;
/**
 * While the group is missing a worker's read loop retries after a backoff that starts at 100 ms and
 * doubles up to 1 s (worker.ts, NOGROUP branch): at most 10 XREADGROUP and 10 XGROUP CREATE per second
 * and worker. Twice that is the bound; a loop without backoff makes thousands per second.
 */
const MISSING_BOUND_PER_S = 20;
/** Under load the reads follow the arriving batches (50/s here, plus 2/s from BLOCK_MS 500): a few hundred per second at most. */
const LOAD_BOUND_PER_S = 300;
/** Warn/error lines per worker in one episode: one per state change, not one per attempt. */
const WARN_BOUND = 5;

/** cleanups: stop what the test started (the load loop) also when it fails half-way. */
const scenario = privateRedisScenario();

interface Snap {
  at: number;
  stats: Record<string, CommandStat>;
  logIdx: number[];
}

test('XGROUP DESTROY and XTRIM MAXLEN 0 under load on 2 real workers: no hot loop, a handful of log lines, every event added after the trim and the recreation processed', async () => {
  const { server, redis, fleet, cleanups } = scenario;
  const workers: ServiceProcess[] = [];
  for (let i = 0; i < WORKERS; i++) {
    workers.push(fleet.start({ ...workerEnv(server.url, STREAM, { CLAIM_IDLE_MS: '5000', RECORD_WORK_MS: '1', CONCURRENCY: '20', BATCH_SIZE: '50' }), CONSUMER: `gone-${i}` }));
  }
  const ports = await Promise.all(workers.map((w) => workerPort(w)));
  // The body is read so that the keep-alive socket goes back to the pool (an unread body holds it).
  const statusOf = (url: string): Promise<number> => fetch(url).then(async (r) => (await r.arrayBuffer(), r.status), () => 0);
  const readyz = (): Promise<number[]> => Promise.all(ports.map((p) => statusOf(`http://127.0.0.1:${p}/readyz`)));

  // Load: 10 events every 20 ms on a connection of its own; each event tagged with the episode counter
  // at the time it was sent (an event tagged k was sent after admin step k returned).
  const loadConn = new Redis(server.url);
  const added: Array<{ id: string; epoch: number }> = [];
  let epoch = 0;
  let loadStop = false;
  let loadFailed = 0;
  const load = (async () => {
    for (let i = 0; i < 6000 && !loadStop; i++) {
      const e = epoch;
      const p = loadConn.pipeline();
      const ids: string[] = [];
      for (let k = 0; k < 10; k++) {
        const id = `g-${i}-${k}`;
        ids.push(id);
        p.xadd(STREAM, '*', ...eventFields(id));
      }
      const res = (await p.exec()) ?? [];
      res.forEach(([err], k) => (err ? loadFailed++ : added.push({ id: ids[k]!, epoch: e })));
      await pause(20); // the load's pace: 500 events/s
    }
  })();
  cleanups.push(async () => {
    loadStop = true;
    await load;
    loadConn.disconnect();
  });

  const snap = async (): Promise<Snap> => ({ at: Date.now(), stats: await commandStats(redis), logIdx: workers.map((w) => w.logs.length) });
  const warnsBetween = (a: Snap, b: Snap): string[][] =>
    workers.map((w, i) => w.logs.slice(a.logIdx[i], b.logIdx[i]).filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal').map((l) => String(l.msg)));
  const episode = (name: string, a: Snap, b: Snap) => {
    const s = (b.at - a.at) / 1000;
    const n = (cmd: string): number => attemptsBetween(a.stats, b.stats, cmd);
    const perWorkerPerS = (x: number): number => Math.round((x / WORKERS / s) * 10) / 10;
    const warns = warnsBetween(a, b);
    return {
      name,
      seconds: Math.round(s * 10) / 10,
      xreadgroup: n('xreadgroup'),
      xgroupCreate: n('xgroup|create'),
      xautoclaim: n('xautoclaim'),
      eval: n('eval') + n('evalsha'),
      xack: n('xack'),
      readsPerWorkerPerS: perWorkerPerS(n('xreadgroup')),
      createsPerWorkerPerS: perWorkerPerS(n('xgroup|create')),
      warnLinesPerWorker: warns.map((w) => w.length),
      warnMessages: [...new Set(warns.flat())],
    };
  };
  const groupExists = async (): Promise<boolean> => (await groupState(redis, STREAM, GROUP).catch(() => undefined)) !== undefined;

  await waitFor(async () => Number(await redis.hlen('rec:done')) >= 1000, 60_000, 50, '1000 events processed before the first episode');
  // Each observation window lasts until the workers processed `n` more events (about 2 s of the load).
  const processedMore = async (n: number, what: string): Promise<void> => {
    const from = Number(await redis.hlen('rec:done'));
    await waitFor(async () => Number(await redis.hlen('rec:done')) >= from + n, 60_000, 20, `${n} more events processed (${what})`);
  };
  // Baseline: plain load.
  const s0a = await snap();
  await processedMore(1000, 'baseline');
  const s0b = await snap();

  // Episode 1: XGROUP DESTROY under load (XLEN taken in the same MULTI: what a recreation at 0 delivers again).
  const s1a = await snap();
  const r1 = (await redis.multi().xlen(STREAM).xgroup('DESTROY', STREAM, GROUP).exec())!;
  epoch = 1;
  const destroyed1At = Date.now();
  const xlenAtDestroy1 = Number(r1[0]![1]);
  await waitFor(groupExists, 30_000, 5, 'group recreated by the workers after XGROUP DESTROY');
  const missing1Ms = Date.now() - destroyed1At;
  await processedMore(1000, 'after the recreation');
  const s1b = await snap();

  // Episode 2: XTRIM MAXLEN 0 under load.
  const s2a = await snap();
  const trimmed = await redis.xtrim(STREAM, 'MAXLEN', 0);
  epoch = 2;
  await processedMore(1000, 'after the trim');
  const s2b = await snap();

  // Episode 3: XGROUP DESTROY while the workers' user may not run XGROUP CREATE: the group stays
  // missing until both workers report it (/readyz 503) and tried to recreate it 6 times each.
  await redis.call('ACL', 'SETUSER', 'default', '-xgroup|create');
  const s3a = await snap();
  const r3 = (await redis.multi().xlen(STREAM).xgroup('DESTROY', STREAM, GROUP).exec())!;
  epoch = 3;
  const xlenAtDestroy3 = Number(r3[0]![1]);
  await waitFor(async () => (await readyz()).every((st) => st === 503) && attemptsBetween(s3a.stats, await commandStats(redis), 'xgroup|create') >= 6 * WORKERS, 60_000, 50, 'both workers retrying the missing group');
  const stillMissing = !(await groupExists());
  const readyzWhileMissing = await readyz();
  const s3b = await snap();
  await redis.call('ACL', 'SETUSER', 'default', '+xgroup|create');
  const liftedAt = Date.now();
  await waitFor(groupExists, 30_000, 5, 'group recreated once XGROUP CREATE is allowed again');
  const recreate3Ms = Date.now() - liftedAt;
  epoch = 4;
  await waitFor(async () => (await readyz()).every((s) => s === 200), 30_000, 50, 'both workers ready again');
  const s4a = await snap();
  await processedMore(1000, 'load goes on after the recreation');
  loadStop = true;
  await load;
  loadConn.disconnect();
  await waitDrained(redis, STREAM, GROUP, 120_000);
  const s4b = await snap();

  const done = await redis.hgetall('rec:done');
  const c = await counts(redis, 'rec', added.map((a) => a.id));
  const inStream = await idsInStream(redis, STREAM);
  const lostAfterTrim = added.filter((a) => a.epoch >= 2 && !done[a.id]).map((a) => a.id);
  const addedAfterRecreation = added.filter((a) => a.epoch >= 4);
  const inStreamNotDone = [...inStream].filter((id) => !done[id]);
  const trimmedUnprocessed = added.filter((a) => a.epoch < 2 && !done[a.id]).length;
  const deadLettered = await redis.xlen(`${STREAM}:dlq`);
  const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null).length;
  const episodes = [episode('baseline', s0a, s0b), episode('destroy', s1a, s1b), episode('trim', s2a, s2b), episode('destroy-denied', s3a, s3b), episode('recreated', s4a, s4b)];
  const allWarns = workers.map((w) => w.logs.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal').length);
  console.log(
    JSON.stringify({
      scenario: 'group-deleted',
      added: added.length,
      loadFailed,
      xlenAtDestroy1,
      missing1Ms,
      trimmed,
      xlenAtDestroy3,
      stillMissingWhileDenied: stillMissing,
      readyzWhileMissing,
      recreate3Ms,
      addedAfterRecreation: addedAfterRecreation.length,
      done: c.done,
      duplicates: c.duplicates,
      duplicateBound: xlenAtDestroy1 + xlenAtDestroy3,
      trimmedUnprocessed,
      lostAfterTrim: lostAfterTrim.length,
      inStreamNotDone: inStreamNotDone.length,
      deadLettered,
      workersAlive: alive,
      warnLinesTotal: allWarns,
      episodes,
    }),
  );

  const byName = Object.fromEntries(episodes.map((e) => [e.name, e]));
  // The group really was missing for the whole of episode 3, and the workers said so on /readyz.
  expect(stillMissing).toBe(true);
  expect(readyzWhileMissing).toEqual(ports.map(() => 503));
  // No hot loop while the group is missing: attempts bounded by the documented backoff.
  expect(byName['destroy-denied']!.readsPerWorkerPerS).toBeLessThanOrEqual(MISSING_BOUND_PER_S);
  expect(byName['destroy-denied']!.createsPerWorkerPerS).toBeLessThanOrEqual(MISSING_BOUND_PER_S);
  expect(byName['destroy-denied']!.xgroupCreate).toBeGreaterThan(0); // they did keep trying
  // Under load: reads follow the load, no storm around the destroy or the trim.
  for (const e of episodes) {
    expect(e.readsPerWorkerPerS).toBeLessThanOrEqual(LOAD_BOUND_PER_S);
    expect(e.createsPerWorkerPerS).toBeLessThanOrEqual(MISSING_BOUND_PER_S);
    for (const n of e.warnLinesPerWorker) expect(n).toBeLessThanOrEqual(WARN_BOUND);
  }
  for (const n of allWarns) expect(n).toBeLessThanOrEqual(4 * WARN_BOUND);
  // Processing resumed: every event added after the trim (during the missing group, and after its recreation) is processed, and everything left in the stream.
  expect(addedAfterRecreation.length).toBeGreaterThan(0);
  expect(lostAfterTrim).toEqual([]);
  expect(inStreamNotDone).toEqual([]);
  expect(loadFailed).toBe(0);
  expect(deadLettered).toBe(0);
  expect(alive).toBe(WORKERS);
  // Duplicates only from the redelivery of what the stream held when the group was destroyed.
  expect(c.duplicates).toBeLessThanOrEqual(xlenAtDestroy1 + xlenAtDestroy3);
});
