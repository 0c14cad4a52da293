/**
 * The autoscaler binary (`node services/autoscaler/dist/main.js`, which loads the ESM-only
 * @kubernetes/client-node through require) with KUBECONFIG pointing at the Kubernetes API-server
 * DOUBLE over real HTTP, and the real backlog from the shared Redis (unique keys).
 * Needs `npx tsc -b services/autoscaler` first.
 */
import type Redis from 'ioredis';
import { SHARED_REDIS_URL } from '../../../test-support/redis';
import { startService, waitFor } from '../../../test-support/process';
import { type KubeApiDouble, writeKubeconfig } from './support/kube-api-double';
import { kubeAndRedisFixture } from './support/helpers';

const NS = 'bin';

describe('autoscaler binary against the Kubernetes API double', () => {
  const fx = kubeAndRedisFixture('as-bin');
  let api: KubeApiDouble;
  let dir: string;
  let redis: Redis;
  let prefix: string;
  beforeEach(() => {
    ({ api, dir, redis, prefix } = fx);
  });

  /** The autoscaler's environment against the double (the token names the caller in its records) and the shared Redis. */
  const env = (stream: string, token: string, extra: Record<string, string> = {}): Record<string, string> => ({
    KUBECONFIG: writeKubeconfig(dir, api.url, token, NS),
    NAMESPACE: NS,
    TARGET_NAME: 'workers',
    STREAM: stream,
    GROUP: 'workers',
    REDIS_URL: SHARED_REDIS_URL,
    PORT: '0',
    POLL_INTERVAL_MS: '200',
    ...extra,
  });

  test('a stream without a group (fresh install at 0) activates 0 → 4; drained by a worker it returns to 0 after the cooldown; SIGTERM releases the Lease and exits 0', async () => {
    const stream = `${prefix}:events`;
    for (let i = 0; i < 250; i++) await redis.xadd(stream, '*', 'n', String(i));
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const proc = startService('autoscaler', env(stream, 'autoscaler-sa', {
      TARGET_PER_REPLICA: '50', // 250 outstanding → 5, rate-limited to 4 from zero
      COOLDOWN_S: '2',
      SCALE_DOWN_WINDOW_S: '1',
      POD_NAME: 'autoscaler-0',
    }));
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

      // A worker creates the group and works the backlog off (read + ack): outstanding 0 in Redis.
      const drainStart = Date.now();
      await redis.xgroup('CREATE', stream, 'workers', '0');
      for (;;) {
        const res = (await redis.xreadgroup('GROUP', 'workers', 'w-1', 'COUNT', 100, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
        const ids = res?.[0]?.[1].map(([id]) => id) ?? [];
        if (ids.length === 0) break;
        await redis.xack(stream, 'workers', ...ids);
      }
      const down = await proc.waitForLog((l) => typeof l.msg === 'string' && /^scaled down from \d+ to 0 replicas$/.test(l.msg), 30_000);
      expect(down).toMatchObject({ reason: 'cooldown-elapsed', outstanding: 0, desired: 0 });
      expect(api.deployment('workers', NS)!.replicas).toBe(0);
      // Not before the cooldown: 2 s without activity as the decision saw it, and (loosely, on a loaded
      // machine polls slip) well after the drain began.
      expect(Number(down.idleS)).toBeGreaterThanOrEqual(2);
      expect(Date.parse(String(down.time))).toBeGreaterThanOrEqual(drainStart); // decided after the drain began
      const replicasPatched = api.patches().map((p) => (p.body as { spec: { replicas: number } }).spec.replicas);
      expect(replicasPatched[0]).toBe(4);
      expect(replicasPatched.at(-1)).toBe(0);
      expect(replicasPatched.slice(1, -1).every((r) => r >= 1 && r < 4)).toBe(true); // stepped down through the floor of 1, never above 4
    } finally {
      proc.kill('SIGTERM');
    }
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    expect(api.leases.get(`${NS}/workers-autoscaler`)!.spec.holderIdentity).toBeUndefined(); // released for a fast hand-over
    expect(api.unexpected).toEqual([]);
  });

  test('two autoscaler processes with one Lease: only the leader patches; when it stops the other takes over and scales', async () => {
    const stream = `${prefix}:events`;
    await redis.xgroup('CREATE', stream, 'workers', '$', 'MKSTREAM');
    for (let i = 0; i < 300; i++) await redis.xadd(stream, '*', 'n', String(i));
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const start = (name: string) => startService('autoscaler', env(stream, name, { TARGET_PER_REPLICA: '100', LEASE_DURATION_S: '4', POD_NAME: name, JANITOR_INTERVAL_MS: '0' }));
    const procs = { 'autoscaler-a': start('autoscaler-a'), 'autoscaler-b': start('autoscaler-b') };
    try {
      await Promise.all(Object.values(procs).map((p) => p.waitForLog((l) => l.msg === 'autoscaler started', 30_000)));
      await waitFor(() => api.deployment('workers', NS)!.replicas === 3, 30_000, 50, '0 → 3 replicas');
      const leaderName = api.leases.get(`${NS}/workers-autoscaler`)!.spec.holderIdentity as keyof typeof procs;
      const followerName = leaderName === 'autoscaler-a' ? 'autoscaler-b' : 'autoscaler-a';
      const [leader, follower] = [procs[leaderName], procs[followerName]];
      // Both poll for a while (the follower through 3 rounds of its loop, counted by its own metric):
      // the follower stands by and never patches.
      const followerPort = Number(follower.logs.find((l) => l.msg === 'autoscaler started')!.port);
      const followerMetrics = async () => (await fetch(`http://127.0.0.1:${followerPort}/metrics`)).text();
      const standbyRounds = async () => Number(/stream_workers_autoscaler_loops_total\{outcome="standby"\} (\d+)/.exec(await followerMetrics())?.[1] ?? 0);
      await waitFor(async () => (await standbyRounds()) >= 3, 30_000, 50, 'three standby rounds of the follower');
      expect(new Set(api.patches().map((p) => p.user))).toEqual(new Set([leaderName]));
      expect(follower.logs.some((l) => l.msg === 'standing by: another replica holds the leader lease')).toBe(true);
      expect(follower.logs.some((l) => l.msg === 'became the leader')).toBe(false);
      expect(await followerMetrics()).toMatch(/stream_workers_autoscaler_leader 0/);

      // The leader stops (SIGTERM releases the Lease); more backlog arrives; the follower takes over and scales.
      leader.kill('SIGTERM');
      expect((await leader.exited).code).toBe(0);
      const patchesBefore = api.patches().length;
      for (let i = 0; i < 400; i++) await redis.xadd(stream, '*', 'n', String(i));
      await follower.waitForLog((l) => l.msg === 'became the leader', 20_000);
      await waitFor(() => api.deployment('workers', NS)!.replicas === 7, 30_000, 50, '3 → 7 replicas by the new leader');
      const after = api.patches().slice(patchesBefore);
      expect(after.length).toBeGreaterThan(0);
      expect(new Set(after.map((p) => p.user))).toEqual(new Set([followerName]));
      expect(api.leases.get(`${NS}/workers-autoscaler`)!.spec).toMatchObject({ holderIdentity: followerName, leaseTransitions: 1 });
    } finally {
      for (const p of Object.values(procs)) p.kill('SIGTERM');
    }
    for (const p of Object.values(procs)) expect((await p.exited).code).toBe(0);
    expect(api.unexpected).toEqual([]);
  });

  test('RBAC missing (403 on patch): /readyz is 503 and the log names the verb and resource', async () => {
    const stream = `${prefix}:events`;
    await redis.xadd(stream, '*', 'n', '1');
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    api.inject({ method: 'PATCH', path: /\/scale$/, status: 403 });
    const proc = startService('autoscaler', env(stream, 'autoscaler-sa'));
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

  test('POOLS: a lag pool woken by its own activation watch (no poll for 10 min) and a rate pool, each scaling its Deployment; metrics per pool', async () => {
    const a = `${prefix}:pool-a`;
    const b = `${prefix}:pool-b`;
    await redis.xgroup('CREATE', a, 'ga', '$', 'MKSTREAM');
    for (let i = 0; i < 120; i++) await redis.xadd(b, '*', 'n', String(i));
    api.addDeployment({ name: 'da', namespace: NS, replicas: 0 });
    api.addDeployment({ name: 'db', namespace: NS, replicas: 0 });
    const pool = (over: Record<string, unknown>) => ({
      targetPerReplica: 50, activation: 0, minReplicas: 0, maxReplicas: 3, cooldownS: 300, scaleDownWindowS: 300,
      targetDrainS: 30, rateWindowS: 5, activationWatch: true, ...over,
    });
    const pools = [
      pool({ name: 'a', stream: a, group: 'ga', deployment: 'da', scalingMode: 'lag', pollIntervalMs: 600_000 }),
      pool({ name: 'b', stream: b, group: 'gb', deployment: 'db', scalingMode: 'rate', pollIntervalMs: 200, activationWatch: false }),
    ];
    const proc = startService('autoscaler', {
      KUBECONFIG: writeKubeconfig(dir, api.url, 'autoscaler-sa', NS), NAMESPACE: NS, REDIS_URL: SHARED_REDIS_URL, PORT: '0',
      // No Lease: a standby's first round would leave pool a undecided until its next poll, 10 min later.
      LEADER_ELECTION: 'false', JANITOR_INTERVAL_MS: '0', POOLS: JSON.stringify(pools),
    });
    try {
      const started = await proc.waitForLog((l) => l.msg === 'autoscaler started' && Array.isArray(l.pools) && l.pools.length === 2, 30_000);
      // Pool b (rate mode; the lag count until a service rate is measured) scales on its backlog.
      await proc.waitForLog((l) => l.pool === 'b' && typeof l.msg === 'string' && l.msg.startsWith('scaled up from 0 to'), 30_000);
      expect(api.deployment('db', NS)!.replicas).toBeGreaterThan(0);
      // Pool a decided once at start (nothing outstanding) and polls again only in 10 min: one entry
      // wakes its activation watch, which decides at once.
      // An entry added before the watch blocks is left to the poll: add one every 500 ms until it wakes.
      const isWake = (l: Record<string, unknown>): boolean => l.msg === 'activation watch: first entry at 0 replicas, deciding now' && l.pool === 'a';
      await waitFor(async () => {
        if (proc.logs.some(isWake)) return true;
        await redis.xadd(a, '*', 'n', 'tick');
        return false;
      }, 30_000, 500, 'pool a\'s activation watch woken');
      const woke = proc.logs.find(isWake)!;
      expect(woke.stream).toBe(a);
      await proc.waitForLog((l) => l.pool === 'a' && l.msg === 'scaled up from 0 to 1 replicas', 30_000);
      expect(api.deployment('da', NS)!.replicas).toBe(1);
      const metrics = await (await fetch(`http://127.0.0.1:${Number(started.port)}/metrics`)).text();
      expect(metrics).toContain('stream_workers_autoscaler_current_replicas{pool="a"} 1');
      expect(metrics).toMatch(/stream_workers_autoscaler_scale_events_total\{pool="b",direction="up"\} [1-9]/);
    } finally {
      proc.kill('SIGTERM');
    }
    expect((await proc.exited).code).toBe(0);
    expect(api.unexpected).toEqual([]);
  });
});
