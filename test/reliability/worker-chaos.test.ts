/**
 * Worker chaos: while 100,000 events are processed, a random worker is SIGKILLed at each ninth of
 * the way (progress-driven, so a fast or a slow machine sees the same 8 kills) plus a random delay,
 * and replaced under a new consumer name as a Deployment does. Ends by counting: 0 lost, duplicates ≤ what the killed workers held
 * (XPENDING per consumer right after each kill), and stale consumers deleted by the autoscaler's
 * janitor only once they are empty.
 */
import { createLogger } from '../../services/core/src';
import { Janitor } from '../../services/autoscaler/src/janitor';
import { counts, fill, waitDrained } from '../../services/worker/test/support';
import { pendingByConsumer, privateRedisScenario, workerEnv } from './support';
import { waitFor } from '../../test-support/process';

jest.setTimeout(300_000);

const EVENTS = 100_000;
const WORKERS = 3;
const KILLS = 8;

const scenario = privateRedisScenario();

test('random SIGKILLs of workers: 0 lost, duplicates bounded by what the killed workers held, no consumer with pending entries deleted', async () => {
  const { server, redis, fleet } = scenario;
  const stream = 'chaos';
  const ids = await fill(redis, stream, EVENTS);
  // CLAIM_IDLE_MS 2 s: a killed worker's entries come back quickly; RECORD_WORK_MS 2: handlers are in flight when the kill lands.
  const env = workerEnv(server.url, stream, { CLAIM_IDLE_MS: '2000', RECORD_WORK_MS: '2', CONCURRENCY: '20', BATCH_SIZE: '50' });
  let gen = 0;
  const names = new Map<string, string>();
  const spawn = (): void => {
    const name = `chaos-${gen++}`;
    const w = fleet.start({ ...env, CONSUMER: name });
    names.set(String(w.proc.pid), name);
  };
  for (let i = 0; i < WORKERS; i++) spawn();
  await Promise.all(fleet.alive().map((w) => w.waitForLog((l) => l.msg === 'worker started')));

  const dead = new Set<string>();
  const live = (): Set<string> => new Set(fleet.alive().map((w) => names.get(String(w.proc.pid))!));
  const janitor = new Janitor({
    redis,
    stream,
    group: 'workers',
    logger: createLogger({ service: 'reliability-janitor', level: 'error' }),
    probe: async () => {
      const alive = live();
      return (c) => (alive.has(c) ? 'alive' : dead.has(c) ? 'gone' : 'unknown');
    },
  });

  let heldByKilled = 0;
  let kills = 0;
  const deletedWithPending: string[] = [];
  for (; kills < KILLS; kills++) {
    // Kill number k lands once k/(KILLS+1) of the events are done, plus 0-200 more (a random point in the work).
    const threshold = Math.floor(((kills + 1) * EVENTS) / (KILLS + 1)) + Math.floor(Math.random() * 200);
    await waitFor(async () => Number(await redis.hlen('rec:done')) >= Math.min(threshold, EVENTS), 300_000, 20, `${threshold} events done before kill ${kills + 1}`);
    const done = Number(await redis.hlen('rec:done'));
    if (done >= EVENTS) break;
    const alive = fleet.alive();
    const victim = alive[Math.floor(Math.random() * alive.length)]!;
    const name = names.get(String(victim.proc.pid))!;
    victim.kill('SIGKILL');
    await victim.exited;
    const held = (await pendingByConsumer(redis, stream, 'workers'))[name] ?? 0;
    heldByKilled += held;
    dead.add(name);
    spawn();
    // The janitor runs during the chaos: it must keep every dead consumer that still holds entries.
    const before = await pendingByConsumer(redis, stream, 'workers');
    const report = await janitor.runOnce();
    for (const d of report.deleted) if ((before[d] ?? 0) > 0) deletedWithPending.push(d);
    console.log(`kill ${kills + 1}: ${name} held ${held}; done ${done}/${EVENTS}; janitor deleted [${report.deleted.join(',')}], kept ${JSON.stringify(report.keptPending)}`);
  }

  await waitDrained(redis, stream, 'workers', 180_000);
  const c = await counts(redis, 'rec', ids);
  // Once everything is reclaimed and acked, every dead consumer is empty and the janitor removes them all.
  const final = await janitor.runOnce();
  const remaining = (await redis.xinfo('CONSUMERS', stream, 'workers')) as unknown[][];
  const remainingNames = remaining.map((r) => String(r[1]));
  console.log(JSON.stringify({ scenario: 'worker-chaos', events: EVENTS, kills, heldByKilled, done: c.done, lost: c.lost.length, duplicates: c.duplicates, janitorFinalDeleted: final.deleted.length, consumersLeft: remainingNames }));

  expect(kills).toBe(KILLS);
  expect(c.lost).toEqual([]);
  expect(c.done).toBe(EVENTS);
  expect(c.duplicates).toBeLessThanOrEqual(heldByKilled);
  expect(deletedWithPending).toEqual([]);
  expect(remainingNames.filter((n) => dead.has(n))).toEqual([]);
  expect(remainingNames.sort()).toEqual([...live()].sort());
});
