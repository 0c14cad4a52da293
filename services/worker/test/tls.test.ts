/**
 * `rediss://`: a worker process (and the lag exporter, whose scrape has its own RESP connection too)
 * reaches a private redis-server over TLS only (its own self-signed
 * certificate, made here with openssl), on both of its connections: the command connection (ioredis)
 * and the read connection (StreamConsumer, its own RESP client). The server also listens on a plain
 * port, used by the test alone to fill the stream and to look at `CLIENT LIST`.
 */
import Redis from 'ioredis';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRedis, freePort } from '../../core/src';
import { startService, waitFor } from '../../../test-support/process';
import { fill, startWorker, waitDrained, workerPort } from './support';

let server: LocalRedis;
let admin: Redis;
let tlsPort: number;
let dir: string;
let caFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sw-tls-'));
  caFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  // A self-signed certificate for "localhost" (subjectAltName, as Node's hostname check requires).
  writeFileSync(join(dir, 'san.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[san]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=localhost', '-config', join(dir, 'san.cnf'), '-extensions', 'san'], { stdio: 'pipe' });
  tlsPort = await freePort();
  server = await LocalRedis.start({
    args: ['--tls-port', String(tlsPort), '--tls-cert-file', caFile, '--tls-key-file', keyFile, '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no'],
  });
  admin = new Redis(server.url);
}, 30_000);

afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Local ports of the server side of the connections named `name` (CLIENT LIST laddr). */
async function serverPortsOf(name: string): Promise<number[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .filter((l) => l.includes(` name=${name} `))
    .map((l) => Number(/ laddr=[^ ]*:(\d+) /.exec(l)![1]));
}

test('rediss:// with the CA in NODE_EXTRA_CA_CERTS: 2,000 events processed over TLS, both connections on the TLS port', async () => {
  await fill(admin, 'tls:events', 2000);
  const w = startWorker({
    REDIS_URL: `rediss://localhost:${tlsPort}`,
    NODE_EXTRA_CA_CERTS: caFile,
    STREAM: 'tls:events',
    GROUP: 'g',
    CONSUMER: 'tls-worker',
    SIM_WORK_MS: '0',
    BLOCK_MS: '200',
  });
  try {
    await workerPort(w);
    const state = await waitDrained(admin, 'tls:events', 'g', 60_000);
    expect(state.pending).toBe(0);
    expect(state.lag).toBe(0);
    expect(await serverPortsOf('worker:tls-worker')).toEqual([tlsPort]);
    expect(await serverPortsOf('worker-read:tls-worker')).toEqual([tlsPort]);
  } finally {
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  }
}, 90_000);

test('rediss:// without trusting the certificate: nothing is read, /readyz answers 503, the reason is logged', async () => {
  await fill(admin, 'tls:untrusted', 10);
  const w = startWorker({ REDIS_URL: `rediss://localhost:${tlsPort}`, STREAM: 'tls:untrusted', GROUP: 'g', CONSUMER: 'tls-untrusted', SIM_WORK_MS: '0', BLOCK_MS: '200' });
  try {
    const port = await workerPort(w);
    const line = await waitFor(() => w.logs.find((l) => /certificate/i.test(JSON.stringify(l))), 20_000, 50, 'a log line naming the certificate problem');
    expect(JSON.stringify(line)).toMatch(/self-signed certificate/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    // The group was never created over TLS, and nothing was delivered.
    const groups = (await admin.xinfo('GROUPS', 'tls:untrusted').catch(() => [])) as unknown[];
    expect(groups).toEqual([]);
  } finally {
    w.kill('SIGTERM');
    await w.exited;
  }
}, 60_000);

test('the lag exporter over rediss://: its scrape connection and its ioredis connection use TLS, and the backlog it reports is exact', async () => {
  await fill(admin, 'tls:backlog', 25);
  await admin.xgroup('CREATE', 'tls:backlog', 'g', '0');
  await admin.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', 'tls:backlog', '>'); // 10 pending, 15 lag
  const port = await freePort();
  const svc = startService('lag-exporter', { REDIS_URL: `rediss://localhost:${tlsPort}`, NODE_EXTRA_CA_CERTS: caFile, PORT: String(port), STREAMS: 'tls:*', LOG_LEVEL: 'warn' });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 20_000, 50, 'exporter /readyz 200');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/^stream_workers_exporter_up 1$/m);
    expect(text).toMatch(/^stream_workers_group_pending\{stream="tls:backlog",group="g"\} 10$/m);
    expect(text).toMatch(/^stream_workers_group_lag\{stream="tls:backlog",group="g"\} 15$/m);
    expect(text).toMatch(/^stream_workers_group_outstanding\{stream="tls:backlog",group="g"\} 25$/m);
    // Every connection the exporter opened is on the TLS port (the plain one is the test's own).
    const list = ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((l) => / name=lag-exporter/.test(l));
    expect(list.length).toBeGreaterThanOrEqual(2);
    for (const l of list) expect(Number(/ laddr=[^ ]*:(\d+) /.exec(l)![1])).toBe(tlsPort);
  } finally {
    svc.kill('SIGTERM');
    await svc.exited;
  }
}, 60_000);
