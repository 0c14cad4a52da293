/**
 * The autoscaler driving a Deployment through @kubernetes/client-node, against a Kubernetes API-server
 * DOUBLE over real HTTP (test/support/kube-api-double.ts: no cluster can run here). The backlog is
 * scripted (these tests are about the Kubernetes side; the Redis side has its own tests) and the
 * clock is simulated, so cooldowns and windows take no wall time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpsServer, createRegistry } from '@stream-workers/core';
import { Autoscaler } from '../src/autoscaler';
import { DeploymentTarget } from '../src/targets/deployment-target';
import { LeaderElection } from '../src/leader-election';
import { loadKubeConfig } from '../src/kube-config';
import { PAUSED_ANNOTATION } from '../src/scale-target';
import { KubeApiDouble, writeKubeconfig } from './support/kube-api-double';
import { ScriptedBacklog, SimClock, captureLogger } from './support/helpers';

const NS = 'apps-ns';

describe('autoscaler → Deployment scale subresource (Kubernetes API double over real HTTP)', () => {
  let api: KubeApiDouble;
  let dir: string;

  beforeEach(async () => {
    api = await new KubeApiDouble().start();
    dir = mkdtempSync(join(tmpdir(), 'sw-kube-'));
  });
  afterEach(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function setup(opts: { token?: string; name?: string; cooldownS?: number; windowS?: number; isLeader?: () => boolean } = {}) {
    const token = opts.token ?? 'autoscaler-a';
    const kubeConfig = loadKubeConfig(writeKubeconfig(dir, api.url, token, NS));
    const target = new DeploymentTarget({ kubeConfig, namespace: NS, name: opts.name ?? 'workers' });
    const backlog = new ScriptedBacklog();
    const clock = new SimClock();
    const { logger, lines } = captureLogger();
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
    const { autoscaler, backlog, clock, lines, registry } = setup();

    backlog.value = 0;
    expect((await autoscaler.tick()).kind).toBe('decided');
    expect(api.patches()).toHaveLength(0); // nothing to do at 0 with no backlog

    backlog.value = 1000; // wants 10
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
    backlog.value = 0;
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
    const { autoscaler, backlog, clock, lines, registry } = setup();
    backlog.value = 5000;
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

  test('a manual `kubectl scale` is overridden at the next decision', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, backlog, clock } = setup();
    backlog.value = 300;
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(3);
    api.setReplicas('workers', 9, NS); // someone scales by hand
    clock.advance(5);
    await autoscaler.tick();
    expect(api.deployment('workers', NS)!.replicas).toBe(3);
  });

  test('403: a log line names the missing RBAC verb and resource, /readyz answers 503, recovery clears it', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
    const { autoscaler, backlog, lines, registry, logger } = setup();
    const ops = new OpsServer({ port: 0, host: '127.0.0.1', registry, logger, readiness: () => autoscaler.readiness() });
    const port = await ops.listen();
    try {
      api.inject({ method: 'PATCH', path: /\/deployments\/workers\/scale$/, status: 403 });
      backlog.value = 500;
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
    const { autoscaler, lines } = setup();
    api.inject({ method: 'GET', path: /\/deployments\/workers$/, status: 403 });
    await autoscaler.tick();
    expect(lines.find((l) => l.level === 'error')).toMatchObject({ verb: 'get', resource: 'deployments', missingRbac: `get deployments (apiGroup "apps") in namespace "${NS}"` });
    expect(autoscaler.readiness().ready).toBe(false);
  });

  test('404: the log names the target, retries back off (doubling), and it recovers when the Deployment appears', async () => {
    const { autoscaler, backlog, lines } = setup({ name: 'workerz' });
    backlog.value = 500;
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
    const make = (token: string) => {
      const { logger } = captureLogger();
      const kubeConfig = loadKubeConfig(writeKubeconfig(dir, api.url, token, NS));
      const election = new LeaderElection({ kubeConfig, namespace: NS, leaseName: 'workers-autoscaler', identity: token, logger, leaseDurationS: 15, now: clock.now });
      electors.push(election);
      const s = setup({ token, isLeader: () => election.isLeader });
      return { election, ...s };
    };
    const a = make('replica-a');
    const b = make('replica-b');
    a.backlog.value = b.backlog.value = 2000;

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
