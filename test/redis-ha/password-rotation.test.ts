/**
 * Must-show 5 of issue 17: a server with a password; every service started with REDIS_PASSWORD_FILE.
 * The server's password is changed (CONFIG SET requirepass) and the file rewritten, then every client
 * connection is killed (CLIENT KILL TYPE normal, and pubsub): every service reconnects with the new
 * password, read from the file at the reconnect, without a restart. Shown by each service's connection
 * names back in CLIENT LIST, every /readyz 200 and an event that flows producer → worker afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../test-support/redis';
import { command, startServer, type ServerProcess } from '../../test-support/redis-topologies';
import { allReady, notDone, post, recordingWorkerEnv, start, stopAll, type Running } from './support/services';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'sw-rotation-'));
const pwFile = join(dir, 'redis-password');
const ledger = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('rotation');
let server: ServerProcess;
const services: Running[] = [];

beforeAll(async () => {
  server = await startServer({ args: ['--requirepass', 'first-password'], probe: { password: 'first-password' } });
});
afterAll(async () => {
  await stopAll(services);
  await server?.kill();
  await deleteKeys(ledger, prefix);
  ledger.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const names = async (password: string): Promise<string[]> => {
  const list = String(await command(server.port, ['CLIENT', 'LIST'], { password }));
  return [...list.matchAll(/ name=(\S*)/g)].map((m) => m[1]!).filter((n) => n !== '');
};

test('after the password changed and every connection was killed, every service reconnects with the password in the file', async () => {
  writeFileSync(pwFile, 'first-password\n');
  const stream = 'rotated';
  const recordKey = `${prefix}:events`;
  const env = { REDIS_URL: `redis://127.0.0.1:${server.port}`, REDIS_PASSWORD_FILE: pwFile };
  const workerEnv = { ...env, ...recordingWorkerEnv(stream, recordKey, SHARED_REDIS_URL) };
  services.push(await start('producer', 'producer', { ...env, STREAMS: stream }));
  services.push(await start('worker', 'worker', { ...workerEnv, CONSUMER: 'w1' }));
  services.push(await start('lag-exporter', 'exporter', { ...env, STREAMS: stream }));
  services.push(await start('autoscaler', 'autoscaler', { ...workerEnv, TARGET_KIND: 'local', MIN_REPLICAS: '0', MAX_REPLICAS: '1', TARGET_PER_REPLICA: '100000', JANITOR_INTERVAL_MS: '0', LEADER_ELECTION: 'false' }));
  await allReady(services, 30_000);
  expect((await post(services[0]!.port, stream, ['before'])).status).toBe(202);
  await waitFor(async () => (await notDone(ledger, recordKey, ['before'])).length === 0, 30_000, 100, 'the first event processed');
  await fetch(`http://127.0.0.1:${services[2]!.port}/metrics`); // the exporter's scrape connection is open too
  const expected = ['producer', 'worker:w1', 'worker-read:w1', 'lag-exporter', 'autoscaler'];
  expect(await names('first-password')).toEqual(expect.arrayContaining(expected));

  // Rotate: the server first (existing connections stay authenticated), then the Secret's file, then cut every connection.
  await command(server.port, ['CONFIG', 'SET', 'requirepass', 'second-password'], { password: 'first-password' });
  writeFileSync(pwFile, 'second-password\n');
  await command(server.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub'], { password: 'second-password' });
  await command(server.port, ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'], { password: 'second-password' });
  expect(await names('second-password')).toEqual([]); // every service's connection is gone

  await waitFor(async () => {
    const now = await names('second-password');
    return expected.every((n) => now.includes(n));
  }, 30_000, 200, 'every service connected again');
  await allReady(services, 30_000);
  expect((await post(services[0]!.port, stream, ['after'])).status).toBe(202);
  await waitFor(async () => (await notDone(ledger, recordKey, ['after'])).length === 0, 30_000, 100, 'the event after the rotation processed');
  const metrics = await (await fetch(`http://127.0.0.1:${services[2]!.port}/metrics`)).text();
  expect(metrics).toMatch(/stream_workers_exporter_up 1/);
  for (const s of services) expect([s.name, s.proc.proc.exitCode, s.proc.proc.signalCode]).toEqual([s.name, null, null]); // no restart
});
