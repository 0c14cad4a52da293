/**
 * issue 18, must-show 3: the ACL file the chart renders (redis.acl.enabled=true, `helm template`),
 * loaded by a real redis-server started here (`--aclfile`), and the real services (dist/main.js) each
 * connecting as its own user (REDIS_USERNAME / REDIS_PASSWORD from the rendered Secret): the producer
 * appends, the worker processes and dead-letters, the exporter exports the backlog; then the commands
 * each user must not run are refused (NOPERM). Then the autoscaler process (TARGET_KIND=local) as its
 * user does its whole job: the activation watch and the backlog read, scaling worker processes that
 * connect as the `worker` user (WORKER_REDIS_USERNAME / WORKER_REDIS_PASSWORD_FILE) up and back to 0,
 * and the janitor deleting dead consumers; the ACL log stays empty.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { buildEvent, toFields } from '@stream-workers/core';
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
let worker: ServiceProcess | undefined;
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
  worker = startService('worker', { ...envOf('worker'), PORT: String(wPort), STREAM, GROUP: 'workers', CONSUMER: 'w1', SIM_WORK_MS: '0', SIM_POISON_TYPE: 'poison', MAX_DELIVERIES: '2', RETRY_DELAY_MS: '10', BLOCK_MS: '200' });
  const exporter = startService('lag-exporter', { ...envOf('exporter'), PORT: String(ePort), STREAMS: `${STREAM},${STREAM}:dlq` });
  services.push(producer, worker, exporter);
  await producer.waitForLog((l) => l.msg === 'producer started');
  const events = [...Array.from({ length: 20 }, (_, i) => ({ id: `e-${i}`, source: 'acl', type: 'ok', data: { i } })), { id: 'p-1', source: 'acl', type: 'poison', data: null }];
  const res = await fetch(`http://127.0.0.1:${pPort}/v1/streams/${STREAM}/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events) });
  expect(res.status).toBe(202);
  const admin = as('admin');
  await waitFor(async () => (await admin.xlen(`${STREAM}:dlq`)) === 1 && ((await admin.xpending(STREAM, 'workers')) as [number])[0] === 0, 60_000, 100, 'processed and dead-lettered');
  const metrics = await waitFor(async () => {
    const text = await fetch(`http://127.0.0.1:${ePort}/metrics`).then((r) => r.text(), () => ''); // '' until it listens
    return /stream_workers_stream_length\{stream="orders:dlq"\} 1/.test(text) ? text : undefined;
  }, 60_000, 200, 'the exporter exports both streams');
  expect(metrics).toMatch(/stream_workers_group_lag\{stream="orders",group="workers"\} 0/);
  // Nothing was refused while they worked: Redis' ACL log is empty.
  expect(await admin.call('ACL', 'LOG')).toEqual([]);
});

test("Redis' readiness probe, as rendered, answers PONG with `default` off (it authenticates as admin)", () => {
  const sts = one(objs, 'StatefulSet') as unknown as { spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string } } }>; readinessProbe: { exec: { command: string[] } } }> } } } };
  const redis = sts.spec.template.spec.containers[0]!;
  const env = new Map(redis.env.map((e) => [e.name, e]));
  expect(env.get('REDISCLI_USER')?.value).toBe('admin');
  expect(env.get('REDISCLI_AUTH')?.valueFrom?.secretKeyRef.key).toBe('admin-password');
  const [sh, flag, script] = redis.readinessProbe.exec.command as [string, string, string];
  // The probe runs in the Redis pod (127.0.0.1:6379); here it is pointed at this test's server.
  const probe = script.replace('redis-cli', `redis-cli -p ${new URL(server.url).port}`);
  expect(() => execFileSync(sh, [flag, probe], { env: { PATH: process.env.PATH ?? '', REDISCLI_USER: 'admin', REDISCLI_AUTH: decoded['admin-password']! }, stdio: 'pipe' })).not.toThrow();
  expect(() => execFileSync(sh, [flag, script.replace('redis-cli --user "$REDISCLI_USER"', `redis-cli -p ${new URL(server.url).port}`)], { env: { PATH: process.env.PATH ?? '' }, stdio: 'pipe' })).toThrow();
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

test('the autoscaler process as its user: activation watch, backlog, local workers as the worker user scaled up and to 0, janitor', async () => {
  const admin = as('admin');
  // The first test's worker stops: the autoscaler's workers must do the work, and its consumer is one the janitor must delete.
  worker?.kill();
  await worker?.exited;
  await admin.call('XGROUP', 'CREATE', STREAM, 'workers', '0', 'MKSTREAM').catch((err: Error) => {
    if (!/BUSYGROUP/.test(err.message)) throw err;
  });
  await admin.call('XGROUP', 'CREATECONSUMER', STREAM, 'workers', 'ghost');
  // The refusals checked above are in the ACL log; from here on it must stay empty.
  await admin.call('ACL', 'LOG', 'RESET');
  const workerPasswordFile = join(dir, 'worker-password');
  writeFileSync(workerPasswordFile, decoded['worker-password']!);
  const port = await freePort();
  const autoscaler = startService('autoscaler', {
    ...envOf('autoscaler'),
    PORT: String(port),
    TARGET_KIND: 'local',
    STREAM,
    GROUP: 'workers',
    WORKER_REDIS_USERNAME: 'worker',
    WORKER_REDIS_PASSWORD_FILE: workerPasswordFile,
    MIN_REPLICAS: '0',
    MAX_REPLICAS: '2',
    TARGET_PER_REPLICA: '10',
    POLL_INTERVAL_MS: '300',
    COOLDOWN_S: '0',
    SCALE_DOWN_WINDOW_S: '0',
    JANITOR_INTERVAL_MS: '300',
    JANITOR_IDLE_MS: '1000',
    SIM_WORK_MS: '20',
    BLOCK_MS: '200',
  });
  services.push(autoscaler);
  await autoscaler.waitForLog((l) => l.msg === 'autoscaler started');
  // The janitor deletes the dead consumers (`ghost`, and `w1` of the stopped worker) as the autoscaler user.
  await waitFor(async () => {
    const names = ((await admin.call('XINFO', 'CONSUMERS', STREAM, 'workers')) as unknown[][]).map((c) => String(c[1]));
    return !names.includes('ghost') && !names.includes('w1');
  }, 60_000, 200, 'the janitor deleted ghost and w1');
  // Events arrive at 0 replicas: the activation watch (XREAD) and the backlog read start workers.
  for (let i = 0; i < 40; i++) {
    const e = buildEvent({ id: `a-${i}`, source: 'acl', type: 'ok', data: { i } });
    if (!e.ok) throw new Error('invalid test event');
    await admin.xadd(STREAM, '*', ...toFields(e.value));
  }
  await autoscaler.waitForLog((l) => l.msg === 'started worker process');
  let workerUserSeen = false;
  await waitFor(async () => {
    // The worker processes' connections are the `worker` user's (the first test's worker is stopped).
    workerUserSeen ||= /\buser=worker\b/.test(String(await admin.call('CLIENT', 'LIST')));
    const [pending] = (await admin.xpending(STREAM, 'workers')) as [number];
    const groups = (await admin.call('XINFO', 'GROUPS', STREAM)) as unknown[][];
    const lag = groups[0]![groups[0]!.indexOf('lag') + 1];
    return pending === 0 && lag === 0;
  }, 120_000, 200, 'the workers processed the events');
  expect(workerUserSeen).toBe(true);
  // Back to 0 workers; the janitor deletes the consumers of the worker processes it stopped.
  await waitFor(async () => ((await admin.call('XINFO', 'CONSUMERS', STREAM, 'workers')) as unknown[]).length === 0, 120_000, 200, 'scaled to 0 and the consumers deleted');
  expect(await admin.call('ACL', 'LOG')).toEqual([]);
}, 300_000);
