/**
 * Issue 17 on the real node (make cluster-up): the chart against a Redis it does not run, set up the
 * way an operator or another chart sets up in-cluster HA: a primary, a replica and 3 sentinels
 * (plain StatefulSets with the local Redis image, passwords on Redis and on the sentinels), installed
 * with `externalRedis.sentinel` (password as a mounted file, sentinel password from the Secret).
 * Events flow producer -> workers with 0 lost; then `SENTINEL FAILOVER` moves the primary to the
 * replica and every service follows (the worker's read connection too): a second burst flows, 0 lost.
 * The workers' ledger (recording handler) lives in a Redis of its own, so a failover cannot touch it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import {
  buildE2eImage, clusterIP, diagnostics, helm, kubectl, kubectlJson, ledger, LOCAL_VALUES, names, outstanding, publish, recordingWorkerArgs,
  sequence, CHART_DIR, useNamespace,
} from './support/cluster';

const NS = 'sw-e2e-sentinel';
const RELEASE = 'ha';
const n = names(RELEASE);
const MASTER = 'mymaster';
const LEDGER_KEY = 'e2e:sentinel';
const BURST = 5000;
const REDIS_IMAGE = 'stream-workers-redis:dev';
const log = (msg: string): void => void process.stdout.write(`[k8s sentinel] ${msg}\n`);
const host = (pod: string, svc: string): string => `${pod}.${svc}.${NS}.svc.cluster.local`;
const SENTINELS = [0, 1, 2].map((i) => `${host(`sentinel-${i}`, 'sentinel')}:26379`);
const passwords = { redis: randomBytes(18).toString('hex'), sentinel: randomBytes(18).toString('hex') };

/** Env of the Redis pods: the pod IP (what they announce) and the passwords from the Secret. */
const podEnv = [
  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-ha', key: 'redis-password' } } },
  { name: 'SENTINEL_PASSWORD', valueFrom: { secretKeyRef: { name: 'redis-ha', key: 'sentinel-password' } } },
];
const small = { requests: { cpu: '20m', memory: '32Mi' }, limits: { cpu: '500m', memory: '256Mi' } };

function statefulSet(name: string, replicas: number, port: number, script: string, probeAuth: string): object {
  return {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name },
    spec: {
      serviceName: name, replicas, podManagementPolicy: 'Parallel', selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
          containers: [{
            name, image: REDIS_IMAGE, imagePullPolicy: 'Never', command: ['sh', '-c', script], env: [...podEnv, { name: 'REDISCLI_AUTH', valueFrom: { secretKeyRef: { name: 'redis-ha', key: probeAuth } } }],
            ports: [{ containerPort: port, protocol: 'TCP' }], resources: small, volumeMounts: [{ name: 'data', mountPath: '/data' }],
            readinessProbe: { exec: { command: ['redis-cli', '-p', String(port), 'ping'] }, periodSeconds: 2 },
          }],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  };
}

const headless = (name: string, port: number): object => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name },
  spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: { app: name }, ports: [{ port, protocol: 'TCP' }] },
});

/**
 * The HA setup as plain manifests: redis-0 starts as the primary, redis-1 as its replica; each
 * sentinel monitors redis-0 by its address once DNS has it (an operator's chart does the same).
 */
function haManifests(): string {
  const redisScript = [
    'ROLE=""',
    `[ "$(hostname)" = redis-0 ] || ROLE="--replicaof ${host('redis-0', 'redis')} 6379"`,
    'exec redis-server --port 6379 --dir /data --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --protected-mode no'
      + ' --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD" --replica-announce-ip "$POD_IP" $ROLE',
  ].join('\n');
  const sentinelScript = [
    `until set -- $(getent hosts ${host('redis-0', 'redis')}) && [ -n "$1" ]; do sleep 1; done`,
    'cat > /data/sentinel.conf <<EOF',
    'port 26379', 'dir /data', 'protected-mode no', 'sentinel announce-ip $POD_IP', 'requirepass $SENTINEL_PASSWORD',
    `sentinel monitor ${MASTER} $1 6379 2`, `sentinel auth-pass ${MASTER} $REDIS_PASSWORD`,
    `sentinel down-after-milliseconds ${MASTER} 3000`, `sentinel failover-timeout ${MASTER} 10000`, `sentinel parallel-syncs ${MASTER} 1`,
    'EOF',
    'exec redis-server /data/sentinel.conf --sentinel',
  ].join('\n');
  const ledgerDeployment = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ledger' },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'ledger' } },
      template: {
        metadata: { labels: { app: 'ledger' } },
        spec: { containers: [{ name: 'ledger', image: REDIS_IMAGE, imagePullPolicy: 'Never', command: ['redis-server', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], ports: [{ containerPort: 6379, protocol: 'TCP' }], resources: small }] },
      },
    },
  };
  const ledgerService = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ledger' }, spec: { selector: { app: 'ledger' }, ports: [{ port: 6379, protocol: 'TCP' }] } };
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis-ha' }, stringData: { 'redis-password': passwords.redis, 'sentinel-password': passwords.sentinel } };
  const items = [secret, headless('redis', 6379), statefulSet('redis', 2, 6379, redisScript, 'redis-password'), headless('sentinel', 26379),
    statefulSet('sentinel', 3, 26379, sentinelScript, 'sentinel-password'), ledgerDeployment, ledgerService];
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

const podIP = (pod: string): string => kubectl(['-n', NS, 'get', 'pod', pod, '-o', 'jsonpath={.status.podIP}']).trim();

/** A client of one sentinel (by pod IP: the host reaches pods on the node's bridge). */
async function sentinelClient(i: number): Promise<Redis> {
  const r = new Redis({ host: podIP(`sentinel-${i}`), port: 26379, password: passwords.sentinel, lazyConnect: true, maxRetriesPerRequest: 2 });
  r.on('error', () => undefined);
  await r.connect();
  return r;
}

/** SENTINEL MASTER fields as a map. */
async function masterInfo(s: Redis): Promise<Map<string, string>> {
  const flat = (await s.call('SENTINEL', 'MASTER', MASTER)) as string[];
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i]!, flat[i + 1]!);
  return m;
}

async function clientNames(r: Redis): Promise<string[]> {
  return String(await r.client('LIST')).split('\n').map((l) => /(?:^| )name=(\S*)/.exec(l)?.[1] ?? '').filter(Boolean);
}

async function readyz(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [svc, port] of [[n.producer, 8080], [n.exporter, 8082], [n.autoscaler, 8083]] as const) {
    out[svc] = (await fetch(`http://${clusterIP(NS, svc)}:${port}/readyz`).catch(() => undefined))?.status ?? 0;
  }
  return out;
}

describe('the chart with externalRedis.sentinel: a primary, a replica and 3 sentinels run as plain StatefulSets', () => {
  let sentinel: Redis;
  let primary: Redis; // follows the primary through the sentinels (ioredis Sentinel support)
  let ledgerRedis: Redis;
  const ids: string[][] = [];
  const step = sequence(() => log(`failed; the cluster says:\n${diagnostics(NS)}`));

  useNamespace(NS);
  beforeAll(() => buildE2eImage());
  afterAll(() => {
    for (const r of [sentinel, primary, ledgerRedis]) r?.disconnect();
  });

  const connectedServices = async (): Promise<boolean> => {
    const names = await clientNames(primary);
    return ['producer', 'lag-exporter', 'autoscaler'].every((s) => names.includes(s));
  };

  step('1. the HA Redis: redis-0 primary with redis-1 replicating, 3 sentinels that agree on it', async () => {
    kubectl(['-n', NS, 'apply', '-f', '-'], haManifests());
    for (const s of ['statefulset/redis', 'statefulset/sentinel', 'deployment/ledger']) kubectl(['-n', NS, 'rollout', 'status', s, '--timeout=300s']);
    sentinel = await sentinelClient(0);
    await waitFor(async () => {
      const m = await masterInfo(sentinel).catch(() => new Map<string, string>());
      return m.get('ip') === podIP('redis-0') && m.get('num-slaves') === '1' && m.get('num-other-sentinels') === '2';
    }, 120_000, 1000, 'sentinels see redis-0 as primary with 1 replica and 2 other sentinels');
    primary = new Redis({ sentinels: [0, 1, 2].map((i) => ({ host: podIP(`sentinel-${i}`), port: 26379 })), name: MASTER, password: passwords.redis, sentinelPassword: passwords.sentinel, maxRetriesPerRequest: 5 });
    primary.on('error', () => undefined);
    ledgerRedis = new Redis({ host: clusterIP(NS, 'ledger'), port: 6379, maxRetriesPerRequest: 3 });
    ledgerRedis.on('error', () => undefined);
    expect(await primary.role()).toEqual(expect.arrayContaining(['master']));
    log(`primary redis-0 ${podIP('redis-0')}, replica redis-1 ${podIP('redis-1')}`);
  });

  step('2. helm install with externalRedis.sentinel: every service gets the sentinels, no REDIS_URL, and connects to the primary', async () => {
    const values = {
      redis: { enabled: false },
      externalRedis: { existingSecret: 'redis-ha', passwordKey: 'redis-password', sentinel: { hosts: SENTINELS, masterName: MASTER, passwordKey: 'sentinel-password' } },
    };
    const file = join(mkdtempSync(join(tmpdir(), 'sw-sentinel-')), 'values.json');
    writeFileSync(file, JSON.stringify(values));
    helm(['install', RELEASE, CHART_DIR, '--namespace', NS, '--values', LOCAL_VALUES, '--values', file, ...recordingWorkerArgs(LEDGER_KEY, 2),
      '--set', 'worker.extraEnv[2].name=RECORD_REDIS_URL', '--set-string', `worker.extraEnv[2].value=redis://ledger.${NS}.svc.cluster.local:6379`, '--wait', '--timeout', '5m']);
    const env = (kubectlJson(['-n', NS, 'get', 'deployments', '-l', `app.kubernetes.io/instance=${RELEASE}`]).items as Array<{ metadata: { name: string }; spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } }>)
      .map((d) => ({ name: d.metadata.name, vars: new Map((d.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value])) }));
    expect(env.map((d) => d.name).sort()).toEqual([n.autoscaler, n.exporter, n.producer, n.worker].sort());
    for (const d of env) {
      expect({ d: d.name, sentinels: d.vars.get('REDIS_SENTINELS'), url: d.vars.has('REDIS_URL'), file: d.vars.get('REDIS_PASSWORD_FILE') })
        .toEqual({ d: d.name, sentinels: SENTINELS.join(','), url: false, file: '/etc/stream-workers/redis-auth/password' });
    }
    await waitFor(async () => Object.values(await readyz()).every((s) => s === 200), 120_000, 500, 'producer, exporter and autoscaler /readyz 200');
    await waitFor(connectedServices, 120_000, 500, 'producer, lag exporter and autoscaler connected to the primary');
    log(`readyz ${JSON.stringify(await readyz())}; clients on the primary: ${[...new Set(await clientNames(primary))].sort().join(', ')}`);
  });

  const burst = async (round: number): Promise<void> => {
    const sent = await publish(NS, RELEASE, 'events', BURST, { prefix: `sentinel-${round}` });
    ids.push(sent);
    const t0 = Date.now();
    await waitFor(async () => (await outstanding(primary, 'events', 'workers')) === 0 && (await ledger(ledgerRedis, LEDGER_KEY, sent)).lost === 0, 420_000, 1000, `burst ${round} processed`);
    const counts = await ledger(ledgerRedis, LEDGER_KEY, sent);
    log(`burst ${round}: ${BURST} events published (202), processed in ${((Date.now() - t0) / 1000).toFixed(1)} s after the last publish; lost ${counts.lost}, duplicates ${counts.duplicates}`);
    expect({ lost: counts.lost }).toEqual({ lost: 0 });
  };

  step('3. a burst through the producer reaches the workers through Sentinel: 0 lost', () => burst(1));

  step('4. SENTINEL FAILOVER: redis-1 becomes the primary; every service follows it, and a second burst flows, 0 lost', async () => {
    const before = podIP('redis-0');
    const t0 = Date.now();
    expect(await sentinel.call('SENTINEL', 'FAILOVER', MASTER)).toBe('OK');
    await waitFor(async () => (await masterInfo(sentinel)).get('ip') === podIP('redis-1'), 120_000, 500, 'the sentinels name redis-1 the primary');
    const promoted = Date.now();
    await waitFor(async () => (await primary.role().catch(() => []))[0] === 'master' && (await clientNames(primary)).length > 0 && (await connectedServices()), 180_000, 500, 'every service reconnected to the new primary');
    await waitFor(async () => Object.values(await readyz()).every((s) => s === 200), 120_000, 500, 'every service Ready again');
    log(`failover ${before} -> ${podIP('redis-1')}: promoted after ${((promoted - t0) / 1000).toFixed(1)} s; producer, exporter and autoscaler connected to it and Ready ${((Date.now() - t0) / 1000).toFixed(1)} s after SENTINEL FAILOVER`);
    await burst(2);
    // Both bursts are in the ledger: nothing processed before the failover went missing either.
    const all = await ledger(ledgerRedis, LEDGER_KEY, ids.flat());
    expect({ events: ids.flat().length, lost: all.lost }).toEqual({ events: 2 * BURST, lost: 0 });
    const workers = (await clientNames(primary)).filter((x) => x.startsWith('worker:'));
    log(`after the failover: ${JSON.stringify(all)}; worker connections on the new primary: ${workers.length}`);
  });
});
