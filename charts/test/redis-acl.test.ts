/**
 * issue 18, must-show 3: the ACL file the chart renders (redis.acl.enabled=true, `helm template`),
 * loaded by a real redis-server started here (`--aclfile`), and the real services (dist/main.js) each
 * connecting as its own user (REDIS_USERNAME / REDIS_PASSWORD from the rendered Secret): the producer
 * appends, the worker processes and dead-letters, the exporter exports the backlog; then the commands
 * each user must not run are refused (NOPERM). The autoscaler's user is checked command by command
 * with a client of its own (its process is not run here: see the note in docs/kubernetes.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { PrivateRedis, freePort } from '../../test-support/redis';
import { startService, waitFor, type ServiceProcess } from '../../test-support/process';
import { one, render } from './support/helm';

const STREAM = 'orders';
const objs = render({ set: ['redis.acl.enabled=true', `stream=${STREAM}`, 'lagExporter.streams={orders,orders:dlq}'] });
const secret = one(objs, 'Secret', 'redis-acl') as unknown as { data: Record<string, string> };
const decoded = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
const dir = mkdtempSync(join(tmpdir(), 'redis-acl-'));
let server: PrivateRedis;
const services: ServiceProcess[] = [];
const clients: Redis[] = [];

function as(user: string): Redis {
  const r = new Redis(server.url, { username: user, password: decoded[`${user}-password`], lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(r);
  return r;
}
const envOf = (user: string) => ({ REDIS_URL: server.url, REDIS_USERNAME: user, REDIS_PASSWORD: decoded[`${user}-password`]! });

beforeAll(async () => {
  // The server's start-up check connects as `default`, which the rendered file turns off: start with
  // `default` on, then load exactly the rendered file with ACL LOAD.
  const file = join(dir, 'users.acl');
  writeFileSync(file, decoded['users.acl']!.replace('user default off', 'user default on nopass ~* &* +@all'));
  server = await PrivateRedis.start({ args: ['--aclfile', file] });
  writeFileSync(file, decoded['users.acl']!);
  const boot = new Redis(server.url);
  await boot.call('ACL', 'LOAD');
  boot.disconnect();
});
afterAll(async () => {
  for (const s of services) s.kill();
  await Promise.all(services.map((s) => s.exited));
  for (const c of clients) c.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('the rendered ACL file: default off, one user per service, keys from the configured streams', () => {
  const lines = decoded['users.acl']!.split('\n').filter((l) => l.startsWith('user '));
  expect(lines.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual(['user default off', 'user producer on', 'user worker on', 'user exporter on', 'user autoscaler on', 'user admin on']);
  expect(lines[1]).toContain(`~${STREAM} ~${STREAM}:idem:*`);
  expect(lines[2]).toContain(`(~${STREAM}:dlq +xadd)`);
  expect(decoded['users.acl']).not.toContain(decoded['producer-password']);
});

test('every service does its whole job as its own user: producer → worker → dead letter, exporter', async () => {
  const [pPort, wPort, ePort] = [await freePort(), await freePort(), await freePort()];
  const producer = startService('producer', { ...envOf('producer'), PORT: String(pPort), STREAMS: STREAM });
  const worker = startService('worker', { ...envOf('worker'), PORT: String(wPort), STREAM, GROUP: 'workers', CONSUMER: 'w1', SIM_WORK_MS: '0', SIM_POISON_TYPE: 'poison', MAX_DELIVERIES: '2', RETRY_DELAY_MS: '10', BLOCK_MS: '200' });
  const exporter = startService('lag-exporter', { ...envOf('exporter'), PORT: String(ePort), STREAMS: `${STREAM},${STREAM}:dlq` });
  services.push(producer, worker, exporter);
  await producer.waitForLog((l) => l.msg === 'producer started');
  const events = [...Array.from({ length: 20 }, (_, i) => ({ id: `e-${i}`, source: 'acl', type: 'ok', data: { i } })), { id: 'p-1', source: 'acl', type: 'poison', data: null }];
  const res = await fetch(`http://127.0.0.1:${pPort}/v1/streams/${STREAM}/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events) });
  expect(res.status).toBe(202);
  const admin = as('admin');
  await waitFor(async () => (await admin.xlen(`${STREAM}:dlq`)) === 1 && ((await admin.xpending(STREAM, 'workers')) as [number])[0] === 0, 60_000, 100, 'processed and dead-lettered');
  const metrics = await waitFor(async () => {
    const text = await (await fetch(`http://127.0.0.1:${ePort}/metrics`)).text();
    return /stream_workers_stream_length\{stream="orders:dlq"\} 1/.test(text) ? text : undefined;
  }, 60_000, 200, 'the exporter exports both streams');
  expect(metrics).toMatch(/stream_workers_group_lag\{stream="orders",group="workers"\} 0/);
  // Nothing was refused while they worked: Redis' ACL log is empty.
  expect(await admin.call('ACL', 'LOG')).toEqual([]);
});

test.each([
  ['producer', ['XGROUP', 'DESTROY', STREAM, 'workers']],
  ['producer', ['XADD', 'other-stream', '*', 'a', '1']],
  ['producer', ['XREADGROUP', 'GROUP', 'workers', 'x', 'STREAMS', STREAM, '>']],
  ['producer', ['FLUSHALL']],
  ['worker', ['FLUSHALL']],
  ['worker', ['XADD', STREAM, '*', 'a', '1']],
  ['worker', ['XGROUP', 'DESTROY', STREAM, 'workers']],
  ['worker', ['DEL', STREAM]],
  ['exporter', ['XADD', STREAM, '*', 'a', '1']],
  ['exporter', ['XACK', STREAM, 'workers', '0-1']],
  ['exporter', ['CONFIG', 'SET', 'maxmemory', '1']],
  ['autoscaler', ['XADD', STREAM, '*', 'a', '1']],
  ['autoscaler', ['XGROUP', 'DESTROY', STREAM, 'workers']],
  ['autoscaler', ['KEYS', '*']],
])('%s may not run %j (NOPERM)', async (user, cmd) => {
  await expect(as(user).call(cmd[0]!, ...cmd.slice(1))).rejects.toThrow(/NOPERM/);
});

test('the autoscaler / janitor user may read the group and delete an idle consumer, and nothing on another stream', async () => {
  const r = as('autoscaler');
  expect(await r.call('XINFO', 'GROUPS', STREAM)).toHaveLength(1);
  expect(await r.xpending(STREAM, 'workers')).toBeDefined();
  await as('admin').call('XGROUP', 'CREATECONSUMER', STREAM, 'workers', 'gone');
  expect(await r.call('XGROUP', 'DELCONSUMER', STREAM, 'workers', 'gone')).toBe(0);
  await expect(r.call('XINFO', 'STREAM', 'another')).rejects.toThrow(/NOPERM/);
});
