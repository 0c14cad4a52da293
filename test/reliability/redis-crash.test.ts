/**
 * Redis SIGKILLed mid-load and restarted on the same port and dir with AOF `appendfsync always`:
 * every event whose XADD returned is in the stream after the restart, the same worker processes
 * reconnect by themselves and process everything: 0 lost.
 */
import Redis from 'ioredis';
import { counts, waitDrained, workerPort } from '../../services/worker/test/support';
import { waitFor } from '../../test-support/process';
import { eventFields, idsInStream, privateRedisScenario, workerEnv } from './support';

jest.setTimeout(240_000);

const scenario = privateRedisScenario({ args: ['--appendonly', 'yes', '--appendfsync', 'always'], client: false });

test('Redis SIGKILL + restart (AOF always): acknowledged XADDs survive, workers reconnect by themselves, 0 lost', async () => {
  const { server, fleet } = scenario;
  const stream = 'crash';
  const workers = [0, 1].map((i) => fleet.start({ ...workerEnv(server.url, stream, { CLAIM_IDLE_MS: '3000', RECORD_WORK_MS: '1', CONSUMER: `crash-${i}` }), CONSUMER: `crash-${i}` }));
  await Promise.all(workers.map((w) => w.waitForLog((l) => l.msg === 'worker started')));
  // No offline queue and no retries: a write either returned (acknowledged) or failed.
  const producer = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  producer.on('error', () => undefined);

  const ports = await Promise.all(workers.map((w) => workerPort(w)));
  const notReady = async (port: number): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 503;
  // The test's own reads (progress); it reconnects by itself after the restart.
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  const acked: string[] = [];
  let failed = 0;
  let seq = 0;
  let producingUntilStopped = true;
  // One write after the other until told to stop; after a failed write (Redis down) the next waits
  // for the connection to be ready again.
  const producing = (async () => {
    while (producingUntilStopped) {
      const id = `e-${seq++}`;
      try {
        await producer.xadd(stream, '*', ...eventFields(id));
        acked.push(id);
      } catch {
        failed++;
        if (producer.status !== 'ready') await new Promise<void>((r) => producer.once('ready', () => r()));
      }
    }
  })();
  // Mid-load: writes acknowledged and workers processing, when Redis is killed.
  await waitFor(async () => acked.length >= 1000 && Number(await admin.hlen('rec:done')) > 0, 60_000, 20, 'writes and processing under way');
  const ackedAtKill = acked.length;
  await server.stopProcess('SIGKILL');
  // Down until the producer has seen writes fail and both workers report Redis unreachable.
  await waitFor(async () => failed > 0 && (await Promise.all(ports.map(notReady))).every(Boolean), 60_000, 20, 'the outage seen by the producer and both workers');
  await server.startProcess();
  // Writes resume after the restart: a few hundred more acknowledged, then the producer stops.
  await waitFor(() => acked.length >= ackedAtKill + 300, 60_000, 20, 'writes acknowledged after the restart');
  producingUntilStopped = false;
  await producing;
  producer.disconnect();
  admin.disconnect();

  const redis = new Redis(server.url);
  try {
    const inStream = await idsInStream(redis, stream);
    const missingFromStream = acked.filter((id) => !inStream.has(id));
    await waitDrained(redis, stream, 'workers', 120_000);
    const c = await counts(redis, 'rec', [...inStream]);
    const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null).length;
    console.log(JSON.stringify({ scenario: 'redis-crash', acked: acked.length, ackedAtKill, failedWrites: failed, inStream: inStream.size, missingFromStream: missingFromStream.length, done: c.done, lost: c.lost.length, duplicates: c.duplicates, workersAlive: alive }));
    expect(failed).toBeGreaterThan(0); // the outage was real
    expect(acked.length).toBeGreaterThan(ackedAtKill); // writes resumed after the restart
    expect(missingFromStream).toEqual([]);
    expect(c.lost).toEqual([]);
    expect(alive).toBe(2); // the same processes, reconnected by themselves
    // Duplicates come only from handlers that finished but whose XACK was lost with the crash.
    expect(c.duplicates).toBeLessThanOrEqual(2 * 100);
  } finally {
    redis.disconnect();
  }
});
