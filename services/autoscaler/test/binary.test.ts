/**
 * The autoscaler binary (`node services/autoscaler/dist/main.js`, which loads the ESM-only
 * @kubernetes/client-node through require) with KUBECONFIG pointing at the Kubernetes API-server
 * DOUBLE over real HTTP, and the real backlog from the shared Redis (unique keys).
 * Needs `npx tsc -b services/autoscaler` first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { startService, waitFor } from '../../../test-support/process';
import { KubeApiDouble, writeKubeconfig } from './support/kube-api-double';

const NS = 'bin';

describe('autoscaler binary against the Kubernetes API double', () => {
  let api: KubeApiDouble;
  let dir: string;
  let redis: Redis;
  let prefix: string;

  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  afterAll(async () => {
    await redis.quit();
  });
  beforeEach(async () => {
    api = await new KubeApiDouble().start();
    dir = mkdtempSync(join(tmpdir(), 'sw-bin-'));
    prefix = uniquePrefix('as-bin');
  });
  afterEach(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
    await deleteKeys(redis, prefix);
  });

  test('a stream without a group (fresh install at 0) activates 0 → 4; SIGTERM releases the Lease and exits 0', async () => {
    const stream = `${prefix}:events`;
    for (let i = 0; i < 250; i++) await redis.xadd(stream, '*', 'n', String(i));
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const proc = startService('autoscaler', {
      KUBECONFIG: writeKubeconfig(dir, api.url, 'autoscaler-sa', NS),
      NAMESPACE: NS,
      TARGET_NAME: 'workers',
      STREAM: stream,
      GROUP: 'workers',
      REDIS_URL: SHARED_REDIS_URL,
      PORT: '0',
      TARGET_PER_REPLICA: '50', // 250 outstanding → 5, rate-limited to 4 from zero
      POLL_INTERVAL_MS: '200',
      POD_NAME: 'autoscaler-0',
    });
    try {
      const started = await proc.waitForLog((l) => l.msg === 'autoscaler started', 30_000);
      expect(started.leaderElection).toEqual({ lease: 'workers-autoscaler', identity: 'autoscaler-0' });
      await proc.waitForLog((l) => l.msg === 'scaled up from 0 to 4 replicas', 30_000);
      expect(api.deployment('workers', NS)!.replicas).toBe(4);
      const line = proc.logs.find((l) => l.msg === 'scaled up from 0 to 4 replicas')!;
      expect(line).toMatchObject({ outstanding: 250, raw: 5, limitedBy: ['scale-up-rate'], stream, group: 'workers' });
      const port = Number(started.port);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/stream_workers_autoscaler_leader 1/);
      expect(metrics).toMatch(/stream_workers_autoscaler_scale_events_total\{direction="up"\} [1-9]/);
      expect(api.leases.get(`${NS}/workers-autoscaler`)!.spec.holderIdentity).toBe('autoscaler-0');
    } finally {
      proc.kill('SIGTERM');
    }
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(api.leases.get(`${NS}/workers-autoscaler`)!.spec.holderIdentity).toBeUndefined(); // released for a fast hand-over
    expect(api.unexpected).toEqual([]);
  });

  test('RBAC missing (403 on patch): /readyz is 503 and the log names the verb and resource', async () => {
    const stream = `${prefix}:events`;
    await redis.xadd(stream, '*', 'n', '1');
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    api.inject({ method: 'PATCH', path: /\/scale$/, status: 403 });
    const proc = startService('autoscaler', {
      KUBECONFIG: writeKubeconfig(dir, api.url, 'autoscaler-sa', NS),
      NAMESPACE: NS,
      TARGET_NAME: 'workers',
      STREAM: stream,
      REDIS_URL: SHARED_REDIS_URL,
      PORT: '0',
      POLL_INTERVAL_MS: '200',
    });
    try {
      const started = await proc.waitForLog((l) => l.msg === 'autoscaler started', 30_000);
      const err = await proc.waitForLog((l) => l.level === 'error' && l.kind === 'forbidden', 30_000);
      expect(err.missingRbac).toBe(`patch deployments/scale (apiGroup "apps") in namespace "${NS}"`);
      const port = Number(started.port);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 503, 10_000, 100, 'readyz 503');
      expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).text()).toContain('deployments/scale');
    } finally {
      proc.kill('SIGTERM');
    }
    expect((await proc.exited).code).toBe(0);
  });

  test('invalid configuration stops start-up with exit 2 and a message naming the variable', async () => {
    const proc = startService('autoscaler', { MIN_REPLICAS: '5', MAX_REPLICAS: '2', PORT: '0' });
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    expect(proc.stderr()).toContain('MAX_REPLICAS="2" is invalid: expected an integer ≥ MIN_REPLICAS (5)');
  });
});
