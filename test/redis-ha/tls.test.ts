/**
 * Must-show 4 of issue 17: TLS with a private CA made by openssl here, against a redis-server that
 * serves TLS only (`--port 0 --tls-port`) and requires client certificates (`--tls-auth-clients yes`).
 * Every service binary connects with REDIS_TLS_CA_FILE / REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE
 * (/readyz 200) and one event goes producer → worker; against a server whose certificate another CA
 * signed, no service becomes ready and each logs an error naming the certificate problem.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../test-support/redis';
import { startServer, type ServerProcess } from '../../test-support/redis-topologies';
import { allReady, notDone, post, readyz, recordingWorkerEnv, start, stopAll, type Running } from './support/services';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'sw-tls-'));
const f = (name: string): string => join(dir, name);
const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA, and a certificate for `cn` signed by it (with 127.0.0.1 as an IP SAN when `server`). */
function ca(name: string): void {
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`));
}
function signed(name: string, by: string, server: boolean): void {
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
  writeFileSync(f(`${name}.ext`), server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
  ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${by}.crt`), '-CAkey', f(`${by}.key`), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`));
}
ca('ca');
ca('other-ca');
signed('server', 'ca', true);
signed('client', 'ca', false);
signed('rogue', 'other-ca', true);

const ledger = new Redis(SHARED_REDIS_URL);
const prefix = uniquePrefix('tls');
let good: ServerProcess;
let rogue: ServerProcess;
const services: Running[] = [];

async function tlsServer(cert: string, caName: string): Promise<ServerProcess> {
  return startServer({
    tlsOnly: true,
    args: ['--tls-cert-file', f(`${cert}.crt`), '--tls-key-file', f(`${cert}.key`), '--tls-ca-cert-file', f(`${caName}.crt`), '--tls-auth-clients', 'yes'],
    probe: { tls: { ca: readFileSync(f(`${caName}.crt`)), cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) } },
  });
}

beforeAll(async () => {
  good = await tlsServer('server', 'ca');
  // The rogue server trusts our client certificate's CA, so only its own certificate is wrong.
  rogue = await startServer({
    tlsOnly: true,
    args: ['--tls-cert-file', f('rogue.crt'), '--tls-key-file', f('rogue.key'), '--tls-ca-cert-file', f('ca.crt'), '--tls-auth-clients', 'yes'],
    probe: { tls: { ca: readFileSync(f('other-ca.crt')), cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) } },
  });
});
afterAll(async () => {
  await stopAll(services);
  await good?.kill();
  await rogue?.kill();
  await deleteKeys(ledger, prefix);
  ledger.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const tlsEnv = (port: number): Record<string, string> => ({
  REDIS_URL: `rediss://127.0.0.1:${port}`,
  REDIS_TLS_CA_FILE: f('ca.crt'),
  REDIS_TLS_CERT_FILE: f('client.crt'),
  REDIS_TLS_KEY_FILE: f('client.key'),
});

test('every service connects with the CA, certificate and key files; one event flows producer → worker', async () => {
  const stream = 'tls-orders';
  const recordKey = `${prefix}:good`;
  const env = tlsEnv(good.port);
  const workerEnv = { ...env, ...recordingWorkerEnv(stream, recordKey, SHARED_REDIS_URL) };
  const mine: Running[] = [];
  mine.push(await start('producer', 'producer', { ...env, STREAMS: stream }));
  mine.push(await start('worker', 'worker', { ...workerEnv, CONSUMER: 'w1' }));
  mine.push(await start('lag-exporter', 'exporter', { ...env, STREAMS: stream }));
  mine.push(await start('autoscaler', 'autoscaler', { ...workerEnv, TARGET_KIND: 'local', MIN_REPLICAS: '0', MAX_REPLICAS: '1', TARGET_PER_REPLICA: '100000', JANITOR_INTERVAL_MS: '0', LEADER_ELECTION: 'false' }));
  services.push(...mine);
  await allReady(mine, 30_000);
  const r = await post(mine[0]!.port, stream, ['tls-1']);
  expect(r.status).toBe(202);
  await waitFor(async () => (await notDone(ledger, recordKey, ['tls-1'])).length === 0, 30_000, 100, 'the event processed');
  // The exporter read the stream over TLS too.
  const metrics = await (await fetch(`http://127.0.0.1:${mine[2]!.port}/metrics`)).text();
  expect(metrics).toMatch(/stream_workers_exporter_up 1/);
});

test('a server whose certificate another CA signed is refused: no service becomes ready, each logs the certificate error', async () => {
  const env = tlsEnv(rogue.port);
  const workerEnv = { ...env, ...recordingWorkerEnv('tls-rogue', `${prefix}:rogue`, SHARED_REDIS_URL) };
  const mine: Running[] = [];
  mine.push(await start('producer', 'producer', { ...env, STREAMS: 'tls-rogue' }));
  mine.push(await start('worker', 'worker', { ...workerEnv, CONSUMER: 'w1' }));
  mine.push(await start('lag-exporter', 'exporter', { ...env, STREAMS: 'tls-rogue' }));
  mine.push(await start('autoscaler', 'autoscaler', { ...workerEnv, TARGET_KIND: 'local', MIN_REPLICAS: '0', MAX_REPLICAS: '1', JANITOR_INTERVAL_MS: '0', LEADER_ELECTION: 'false' }));
  services.push(...mine);
  const certError = /certificate|self[- ]signed|unable to verify/i;
  for (const s of mine) {
    await s.proc.waitForLog((l) => certError.test(JSON.stringify(l)), 20_000);
    expect([s.name, await readyz(s.port)]).toEqual([s.name, 503]);
  }
  // One line per state change, not per retry: a few lines at most while it keeps failing.
  for (const s of mine) expect([s.name, s.proc.logs.filter((l) => certError.test(JSON.stringify(l))).length < 5]).toEqual([s.name, true]);
});
