/**
 * The autoscaler driving a Deployment through @kubernetes/client-node, against a Kubernetes API-server
 * DOUBLE over real HTTP (test/support/kube-api-double.ts: no cluster can run here). The backlog is
 * real: a unique stream and group on the shared Redis, read through the autoscaler's BacklogSource
 * (entries appended for a backlog, read and acked as a worker would to drain it). The clock of the
 * decisions is simulated, so cooldowns and windows take no wall time.
 */
import { OpsServer, createRegistry } from '@stream-workers/core';
import { Autoscaler } from '../src/autoscaler';
import { DeploymentTarget } from '../src/targets/deployment-target';
import { LeaderElection } from '../src/leader-election';
import { loadKubeConfig } from '../src/kube-config';
import { PAUSED_ANNOTATION } from '../src/scale-target';
import { type KubeApiDouble, writeKubeconfig } from './support/kube-api-double';
import type Redis from 'ioredis';
import { RedisBacklog, SimClock, captureLogger, kubeAndRedisFixture } from './support/helpers';

const NS = 'apps-ns';

describe('autoscaler → Deployment scale subresource (Kubernetes API double over real HTTP, real backlog in the shared Redis)', () => {
  const fx = kubeAndRedisFixture('as-kube');
  let api: KubeApiDouble;
  let dir: string;
  let redis: Redis;
  let prefix: string;
  beforeEach(() => {
    ({ api, dir, redis, prefix } = fx);
  });

  async function setup(opts: { token?: string; name?: string; cooldownS?: number; windowS?: number; isLeader?: () => boolean; backlog?: RedisBacklog } = {}) {
    const token = opts.token ?? 'autoscaler-a';
    const kubeConfig = loadKubeConfig(writeKubeconfig(dir, api.url, token, NS));
    const target = new DeploymentTarget({ kubeConfig, namespace: NS, name: opts.name ?? 'workers' });
    const { logger, lines } = captureLogger();
    const backlog = opts.backlog ?? (await RedisBacklog.create(redis, `${prefix}:events`, logger));
    const clock = new SimClock();
    const registry = createRegistry({ processMetrics: false });
    const autoscaler = new Autoscaler({
      target,
      backlog,
      policy: { targetPerReplica: 100, maxReplicas: 10, cooldownS: opts.cooldownS ?? 60, scaleDownWindowS: opts.windowS ?? 30 },
      pollIntervalMs: 100,
      logger,
      registry,
      now: clock.now,
      ...(opts.isLeader ? { isLeader: opts.isLeader } : {}),
    });
    return { kubeConfig, target, backlog, clock, logger, lines, registry, autoscaler };
  }

  test('0 → N on backlog (rate-limited like the HPA), then N → 0 after the cooldown; metrics and decision logs', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, backlog, clock, lines, registry } = await setup();

    await backlog.set(0);
    expect((await autoscaler.tick()).kind).toBe('decided');
    expect(api.patches()).toHaveLength(0); // nothing to do at 0 with no backlog

    await backlog.set(1000); // wants 10
    const replicasSeen: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(15);
      await autoscaler.tick();
      replicasSeen.push(api.deployment('workers', NS)!.replicas);
    }
    expect(replicasSeen).toEqual([4, 8, 10, 10]);
    const patches = api.patches();
    expect(patches.map((p) => p.body)).toEqual([{ spec: { replicas: 4 } }, { spec: { replicas: 8 } }, { spec: { replicas: 10 } }]);
    expect(patches[0]!.contentType).toBe('application/merge-patch+json');
    expect(patches[0]!.path).toBe(`/apis/apps/v1/namespaces/${NS}/deployments/workers/scale`);

    const scaled = lines.find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('scaled up from 0 to 4'));
    expect(scaled).toMatchObject({ outstanding: 1000, raw: 10, recommendation: 10, desired: 4, current: 0, limitedBy: ['scale-up-rate'], targetPerReplica: 100 });

    // The backlog drains: stays ≥ 1 while cooling down (60 s), then → 0.
    await backlog.set(0);
    clock.advance(5);
    await autoscaler.tick(); // the window (30 s) still holds 10
    expect(api.deployment('workers', NS)!.replicas).toBe(10);
    clock.advance(30);
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(1); // window passed, cooldown not yet
    clock.advance(24); // 59 s idle
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(1);
    clock.advance(1); // 60 s idle
    const last = await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(0);
    expect(last).toMatchObject({ kind: 'decided', decision: { reason: 'cooldown-elapsed', desired: 0 } });

    const metrics = await registry.metrics();
    expect(metrics).toContain('stream_workers_autoscaler_desired_replicas 0');
    expect(metrics).toContain('stream_workers_autoscaler_current_replicas 0');
    expect(metrics).toContain('stream_workers_autoscaler_scale_events_total{direction="up"} 3');
    expect(metrics).toContain('stream_workers_autoscaler_scale_events_total{direction="down"} 2');
    expect(api.unexpected).toEqual([]);
  });

  test('the paused annotation freezes the Deployment (logged once); removing it resumes', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 2, annotations: { [PAUSED_ANNOTATION]: 'true' } });
    const { autoscaler, backlog, clock, lines, registry } = await setup();
    await backlog.set(5000);
    for (let i = 0; i < 3; i++) {
      clock.advance(15);
      expect((await autoscaler.tick()).kind).toBe('paused');
    }
    expect(api.patches()).toHaveLength(0);
    expect(api.deployment('workers', NS)!.replicas).toBe(2);
    expect(lines.filter((l) => String(l.msg).includes('paused by the annotation'))).toHaveLength(1);
    expect(await registry.metrics()).toContain('stream_workers_autoscaler_paused 1');

    api.deployment('workers', NS)!.annotations = { [PAUSED_ANNOTATION]: 'false' };
    clock.advance(15);
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(6); // 2 → max(2+4, 2×2)
    expect(lines.filter((l) => String(l.msg).includes('pause annotation removed'))).toHaveLength(1);
  });

  test('no flapping through the whole loop: a sine backlog over 10 periods in Redis gives only the scale PATCHes the stabilization window allows (count printed)', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    // Default window and cooldown (300 s), a period shorter than two windows so that troughs fall inside it.
    const { autoscaler, backlog, clock, registry } = await setup({ cooldownS: 300, windowS: 300 });
    const POLL_S = 5;
    const PERIOD_S = 480;
    const PERIODS = 10;
    const windowS = 300;
    const events: Array<{ t: number; from: number; to: number }> = [];
    let naive = 0;
    let naiveLast = 0;
    for (let t = 0; t <= PERIOD_S * PERIODS; t += POLL_S) {
      const outstanding = Math.round(500 + 450 * Math.sin((2 * Math.PI * t) / PERIOD_S)); // 50..950 → 1..10 replicas
      await backlog.set(outstanding);
      const before = api.deployment('workers', NS)!.replicas;
      await autoscaler.tick();
      const after = api.deployment('workers', NS)!.replicas;
      if (after !== before) events.push({ t, from: before, to: after });
      const n = Math.ceil(outstanding / 100);
      if (n !== naiveLast) naive += 1;
      naiveLast = n;
      clock.advance(POLL_S);
    }
    const ups = events.filter((e) => e.to > e.from);
    const downs = events.filter((e) => e.to < e.from);
    let reversals = 0;
    for (let i = 1; i < events.length; i++) if (events[i - 1]!.to > events[i - 1]!.from && events[i]!.to < events[i]!.from) reversals += 1;
    console.log(
      `sine backlog 50..950 (period ${PERIOD_S} s × ${PERIODS}, polls every ${POLL_S} s, window ${windowS} s) through Redis, the autoscaler and the API double: ` +
        `${api.patches().length} scale PATCHes (${ups.length} up, ${downs.length} down, ${reversals} up→down reversals); a controller without the window would change replicas ${naive} times`,
    );
    // Every change is one PATCH of the scale subresource, and counted once in the metric.
    expect(api.patches()).toHaveLength(events.length);
    const metrics = await registry.metrics();
    expect(metrics).toContain(`stream_workers_autoscaler_scale_events_total{direction="up"} ${ups.length}`);
    expect(metrics).toContain(`stream_workers_autoscaler_scale_events_total{direction="down"} ${downs.length}`);
    // What the window allows: no scale-down less than one window after a scale-up; at most one
    // up→down reversal per window of run time.
    let lastUp = -Infinity;
    for (const e of events) {
      if (e.to > e.from) lastUp = e.t;
      if (e.to < e.from) expect(e.t - lastUp).toBeGreaterThanOrEqual(windowS);
    }
    expect(reversals).toBeLessThanOrEqual(Math.floor((PERIOD_S * PERIODS) / windowS));
    expect(reversals).toBeLessThanOrEqual(PERIODS); // at most one down-phase per period of the input, no flapping inside one
    expect(naive).toBeGreaterThan(10 * PERIODS); // the input really oscillates
    expect(events.length).toBeLessThan(naive / 2);
    expect(Math.max(...events.map((e) => e.to))).toBe(10);
  }, 120_000);

  test('a manual `kubectl scale` is overridden at the next decision', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, backlog, clock } = await setup();
    await backlog.set(300);
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(3);
    api.setReplicas('workers', 9, NS); // someone scales by hand
    clock.advance(5);
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(3);
  });

  test('403: a log line names the missing RBAC verb and resource, /readyz answers 503, recovery clears it', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, backlog, lines, registry, logger } = await setup();
    const ops = new OpsServer({ port: 0, host: '127.0.0.1', registry, logger, readiness: () => autoscaler.readiness() });
    const port = await ops.listen();
    try {
      api.inject({ method: 'PATCH', path: /\/deployments\/workers\/scale$/, status: 403 });
      await backlog.set(500);
      const outcome = await autoscaler.tick();
      await autoscaler.tick(); // same error again: no second log line
      expect(outcome.kind).toBe('target-error');
      const errs = lines.filter((l) => l.level === 'error');
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatchObject({ kind: 'forbidden', verb: 'patch', resource: 'deployments/scale', apiGroup: 'apps', missingRbac: `patch deployments/scale (apiGroup "apps") in namespace "${NS}"` });
      expect(String(errs[0]!.msg)).toContain('grant the RBAC verb "patch" on resource "deployments/scale"');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toContain('deployments/scale');
      expect(await registry.metrics()).toContain('stream_workers_autoscaler_target_errors_total{kind="forbidden"} 2');

      api.clearFaults();
      await autoscaler.tick();
      expect(api.deployment('workers', NS)!.replicas).toBe(4);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      expect(lines.some((l) => l.msg === 'scale target reachable again')).toBe(true);
    } finally {
      await ops.close();
    }
  });

  test('403 on reading the Deployment names `get deployments`', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, lines } = await setup();
    api.inject({ method: 'GET', path: /\/deployments\/workers$/, status: 403 });
    await autoscaler.tick();
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ verb: 'get', resource: 'deployments', missingRbac: `get deployments (apiGroup "apps") in namespace "${NS}"` });
    expect(autoscaler.readiness().ready).toBe(false);
  });

  test('404: the log names the target, retries back off (doubling), and it recovers when the Deployment appears', async () => {
    const { autoscaler, backlog, lines } = await setup({ name: 'workerz' });
    await backlog.set(500);
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect((await autoscaler.tick()).kind).toBe('target-error');
      delays.push(autoscaler.nextDelayMs);
    }
    expect(delays).toEqual([100, 200, 400, 800]);
    const errs = lines.filter((l) => l.level === 'error');
    expect(errs).toHaveLength(1); // one line per streak, not per retry
    expect(errs[0]).toMatchObject({ kind: 'not-found', name: 'workerz', namespace: NS });
    expect(String(errs[0]!.msg)).toContain('deployments "workerz" in namespace "apps-ns" does not exist');
    expect(autoscaler.readiness().ready).toBe(true); // a missing target is not an RBAC problem

    api.addDeployment({ name: 'workerz', namespace: NS, replicas: 0 });
    await autoscaler.tick();
    expect(api.deployment('workerz', NS)!.replicas).toBe(4);
    expect(autoscaler.nextDelayMs).toBe(100);
  });

  test('two autoscalers with one Lease: exactly one of them patches; the other takes over when it leaves', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const clock = new SimClock();
    const electors: LeaderElection[] = [];
    const shared = await RedisBacklog.create(redis, `${prefix}:events`, captureLogger().logger);
    const make = async (token: string) => {
      const { logger } = captureLogger();
      const kubeConfig = loadKubeConfig(writeKubeconfig(dir, api.url, token, NS));
      const election = new LeaderElection({ kubeConfig, namespace: NS, leaseName: 'workers-autoscaler', identity: token, logger, leaseDurationS: 15, now: clock.now });
      electors.push(election);
      const s = await setup({ token, isLeader: () => election.isLeader, backlog: shared });
      return { election, ...s };
    };
    const a = await make('replica-a');
    const b = await make('replica-b');
    await shared.set(2000); // both read the same stream and group

    // Both try at the same moment: the API server lets exactly one create the Lease.
    const won = await Promise.all([a.election.attempt(), b.election.attempt()]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const [leader, follower] = won[0] ? [a, b] : [b, a];

    for (let i = 0; i < 5; i++) {
      clock.advance(5);
      a.clock.advance(5);
      b.clock.advance(5);
      await Promise.all([a.election.attempt(), b.election.attempt()]);
      await Promise.all([a.autoscaler.tick(), b.autoscaler.tick()]);
    }
    const patchers = new Set(api.patches().map((p) => p.user));
    expect(patchers).toEqual(new Set([leader.election.identity]));
    expect(follower.election.isLeader).toBe(false);
    const lease = api.leases.get(`${NS}/workers-autoscaler`)!;
    expect(lease.spec.holderIdentity).toBe(leader.election.identity);

    // The leader shuts down and releases the Lease: the follower takes over at its next attempt.
    await leader.election.close();
    expect(await follower.election.attempt()).toBe(true);
    api.setReplicas('workers', 1, NS);
    follower.clock.advance(5);
    await follower.autoscaler.tick();
    expect(api.patches().at(-1)!.user).toBe(follower.election.identity);
    expect(api.unexpected).toEqual([]);
    await Promise.all(electors.map((e) => e.close()));
  });

  test('leader election: a crashed leader (no renewals) is replaced only after the lease duration on the follower\'s clock', async () => {
    const clock = new SimClock();
    const { logger } = captureLogger();
    const mk = (id: string) =>
      new LeaderElection({ kubeConfig: loadKubeConfig(writeKubeconfig(dir, api.url, id, NS)), namespace: NS, leaseName: 'l', identity: id, logger, leaseDurationS: 15, now: clock.now });
    const a = mk('a');
    const b = mk('b');
    expect(await a.attempt()).toBe(true);
    expect(await b.attempt()).toBe(false); // first sight of a's record: b starts its own clock
    clock.advance(14);
    expect(await b.attempt()).toBe(false);
    clock.advance(1); // 15 s without a change of the record → expired
    expect(await b.attempt()).toBe(true);
    expect(api.leases.get(`${NS}/l`)!.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: 15 });
    expect(String(api.leases.get(`${NS}/l`)!.spec.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/); // MicroTime
    // a comes back: it sees b holding a fresh lease and steps down instead of acting alongside it.
    expect(await a.attempt()).toBe(false);
    expect(a.isLeader).toBe(false);
    await Promise.all([a.close(), b.close()]);
  });

  test('leader election: 403 on leases is logged with the missing RBAC rule and never makes a leader', async () => {
    const { logger, lines } = captureLogger();
    api.inject({ path: /\/leases/, status: 403 });
    const e = new LeaderElection({ kubeConfig: loadKubeConfig(writeKubeconfig(dir, api.url, 'x', NS)), namespace: NS, leaseName: 'l', identity: 'x', logger });
    expect(await e.attempt()).toBe(false);
    expect(await e.attempt()).toBe(false);
    const errs = lines.filter((l) => l.level === 'error');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ missingRbac: `get leases (apiGroup "coordination.k8s.io") in namespace "${NS}"` });
    expect(e.lastError?.kind).toBe('forbidden');
    await e.close();
  });
});
