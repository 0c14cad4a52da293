/**
 * One autoscaler serving several pools: the POOLS document checked at the edge (errors name the
 * path), and one decision loop per pool against a real backlog on the shared Redis and the
 * Kubernetes API-server DOUBLE (no cluster can run here), each pool scaled on its own group's
 * backlog with its own policy, its metrics labelled `pool`.
 */
import { Registry } from 'prom-client';
import { ConfigErrors } from '@stream-workers/core';
import { autoscalerConfig } from '../src/config';
import { parsePools, type PoolSpec } from '../src/pools-config';
import { PoolSet } from '../src/pools';
import { Janitor } from '../src/janitor';
import { loadKubeConfig } from '../src/kube-config';
import { DeploymentTarget } from '../src/targets/deployment-target';
import { writeKubeconfig } from './support/kube-api-double';
import { RedisBacklog, captureLogger, kubeAndRedisFixture } from './support/helpers';

const pool = (over: Partial<PoolSpec> = {}): Record<string, unknown> => ({
  name: 'a', stream: 's', group: 'g', deployment: 'd-a', podSelector: 'app=a', targetPerReplica: 100, activation: 0, minReplicas: 0, maxReplicas: 5,
  pollIntervalMs: 1000, cooldownS: 300, scaleDownWindowS: 300, scalingMode: 'lag', targetDrainS: 30, rateWindowS: 5, activationWatch: false, ...over,
});
const doc = (...pools: Array<Record<string, unknown>>): string => JSON.stringify(pools);

describe('the POOLS document', () => {
  test('a valid document parses; optional fields may be left out', () => {
    const { podSelector: _drop, ...noSelector } = pool({ name: 'b', group: 'g2', deployment: 'd-b' }) as Record<string, unknown> & { podSelector?: string };
    const pools = parsePools(doc(pool(), noSelector));
    expect(pools.map((p) => [p.name, p.podSelector, p.fallbackReplicas, p.targetLagSeconds])).toEqual([['a', 'app=a', undefined, undefined], ['b', undefined, undefined, undefined]]);
    expect(parsePools(doc(pool({ scalingMode: 'rate', targetLagSeconds: 10 })))[0]).toMatchObject({ scalingMode: 'rate', targetLagSeconds: 10, targetDrainS: 30, rateWindowS: 5 });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['not JSON', '[{', /^POOLS="\[\{" is invalid: expected a JSON array of pools/],
    ['an empty array', '[]', /^POOLS="\[\]" is invalid: expected a non-empty JSON array/],
    ['a field of the wrong type', doc(pool(), pool({ name: 'b', group: 'g2', deployment: 'd-b', maxReplicas: 'ten' as unknown as number })), /^POOLS\[1\]\.maxReplicas="ten" is invalid: expected an integer from 1 to 10000/],
    ['an unknown field (a typo)', doc({ ...pool(), batchsize: 10 }), /^POOLS\[0\]\.batchsize="10" is invalid: expected no such field \(allowed: name, stream/],
    ['a missing field', doc({ ...pool(), group: undefined }), /^POOLS\[0\]\.group is required/],
    ['maxReplicas below minReplicas', doc(pool({ minReplicas: 6 })), /^POOLS\[0\]\.maxReplicas="5" is invalid: expected an integer ≥ minReplicas \(6\)/],
    ['two pools on one stream and group', doc(pool(), pool({ name: 'b', deployment: 'd-b' })), /^POOLS\[1\]\.group="s\/g" is invalid: expected a stream and group not already served by POOLS\[0\]/],
    ['two pools scaling one Deployment', doc(pool(), pool({ name: 'b', group: 'g2' })), /^POOLS\[1\]\.deployment="d-a" is invalid: expected a deployment not already served by POOLS\[0\]/],
    ['an unknown scaling mode', doc(pool({ scalingMode: 'fast' as unknown as 'lag' })), /^POOLS\[0\]\.scalingMode="fast" is invalid: expected one of lag, rate/],
    ['a non-boolean activationWatch', doc(pool({ activationWatch: 'yes' as unknown as boolean })), /^POOLS\[0\]\.activationWatch="yes" is invalid: expected true or false/],
    ['a bad pod selector', doc(pool({ podSelector: 'app in (a)' })), /^POOLS\[0\]\.podSelector="app in \(a\)" is invalid/],
  ];
  test.each(bad)('rejects %s, naming the path', (_what, raw, message) => {
    expect(() => parsePools(raw)).toThrow(message);
  });

  test('the autoscaler\'s configuration reports a bad POOLS with the other variables (exit 2 at start-up)', () => {
    let err: unknown;
    try {
      autoscalerConfig.parse({ POOLS: doc({ ...pool(), concurency: 1 }), PORT: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigErrors);
    expect((err as Error).message).toMatch(/POOLS\[0\]\.concurency="1" is invalid/);
    expect((err as Error).message).toMatch(/PORT="x" is invalid/);
  });
});

describe('PoolSet (shared Redis, Kubernetes API double)', () => {
  const fx = kubeAndRedisFixture('pools');

  test('each pool is scaled on its own group\'s backlog with its own policy; a missing Deployment does not stop the others; metrics carry the pool', async () => {
    const { logger, lines } = captureLogger();
    const stream = `${fx.prefix}orders`;
    const inventory = await RedisBacklog.create(fx.redis, stream, logger, 'inventory');
    const notification = await RedisBacklog.create(fx.redis, stream, logger, 'notification');
    const other = await RedisBacklog.create(fx.redis, `${fx.prefix}payments`, logger, 'ledger');
    for (const name of ['inv', 'note', 'pay']) fx.api.addDeployment({ name, replicas: 0 });
    const kubeConfig = loadKubeConfig(writeKubeconfig(fx.dir, fx.api.url, 'tok'));
    const target = (name: string) => new DeploymentTarget({ kubeConfig, namespace: 'default', name });
    const specs = parsePools(doc(
      pool({ name: 'inventory', stream, group: 'inventory', deployment: 'inv', targetPerReplica: 100 }),
      pool({ name: 'notification', stream, group: 'notification', deployment: 'note', targetPerReplica: 25, maxReplicas: 4 }),
      pool({ name: 'payments', stream: other.stream, group: 'ledger', deployment: 'pay', minReplicas: 1 }),
      pool({ name: 'ghost', stream, group: 'ghost', deployment: 'missing' }),
    ));
    const backlogs: Record<string, { read(): Promise<number | undefined> }> = { inventory, notification, payments: other, ghost: inventory };
    const registry = new Registry();
    const set = new PoolSet({ pools: specs.map((spec) => ({ spec, target: target(spec.deployment), backlog: backlogs[spec.name]! })), logger, registry });

    await inventory.set(250); // the two orders groups see the same 250 entries
    await notification.set(250);
    for (const name of set.names) await set.tick(name);
    expect([fx.api.deployment('inv')!.replicas, fx.api.deployment('note')!.replicas, fx.api.deployment('pay')!.replicas]).toEqual([3, 4, 1]);
    const ghost = await set.tick('ghost');
    expect(ghost.kind).toBe('target-error');

    // The notification group caught up, inventory did not: only notification's desired count falls.
    await notification.set(0);
    await set.tick('notification');
    await set.tick('inventory');
    const text = await registry.metrics();
    expect(text).toContain('stream_workers_autoscaler_desired_replicas{pool="inventory"} 3');
    expect(text).toMatch(/stream_workers_autoscaler_outstanding\{pool="notification"\} 0/);
    expect(text).toContain('stream_workers_autoscaler_current_replicas{pool="payments"} 1');
    expect(text).toContain('stream_workers_autoscaler_scale_events_total{pool="inventory",direction="up"} 1');
    expect(text).toMatch(/stream_workers_autoscaler_target_errors_total\{pool="ghost",kind="not-found"\} [1-9]/);
    expect(set.readiness()).toEqual({ ready: true });
    expect(lines.some((l) => l.pool === 'inventory' && String(l.msg).startsWith('scaled up from 0 to 3'))).toBe(true);
    await set.close();
  });

  test('start() runs every pool\'s loop on its own timer until close()', async () => {
    const { logger } = captureLogger();
    const a = await RedisBacklog.create(fx.redis, `${fx.prefix}x`, logger, 'g1');
    const b = await RedisBacklog.create(fx.redis, `${fx.prefix}y`, logger, 'g2');
    fx.api.addDeployment({ name: 'da', replicas: 0 });
    fx.api.addDeployment({ name: 'db', replicas: 0 });
    const kubeConfig = loadKubeConfig(writeKubeconfig(fx.dir, fx.api.url, 'tok'));
    const specs = parsePools(doc(pool({ name: 'a', stream: a.stream, group: 'g1', deployment: 'da', pollIntervalMs: 100 }), pool({ name: 'b', stream: b.stream, group: 'g2', deployment: 'db', pollIntervalMs: 100 })));
    const set = new PoolSet({ pools: specs.map((spec, i) => ({ spec, target: new DeploymentTarget({ kubeConfig, namespace: 'default', name: spec.deployment }), backlog: [a, b][i]! })), logger });
    await a.set(120);
    set.start();
    const deadline = Date.now() + 10_000;
    while (fx.api.deployment('da')!.replicas !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await set.close();
    expect(fx.api.deployment('da')!.replicas).toBe(2);
    expect(fx.api.deployment('db')!.replicas).toBe(0);
  });

  test('each pool\'s janitor reports under its pool label (a gone pod\'s idle consumer deleted)', async () => {
    const { logger } = captureLogger();
    const a = await RedisBacklog.create(fx.redis, `${fx.prefix}jan`, logger, 'g1');
    fx.api.addDeployment({ name: 'dj', replicas: 0 });
    const kubeConfig = loadKubeConfig(writeKubeconfig(fx.dir, fx.api.url, 'tok'));
    const [spec] = parsePools(doc(pool({ name: 'jan', stream: a.stream, group: 'g1', deployment: 'dj' })));
    const registry = new Registry();
    const set = new PoolSet({ pools: [{ spec: spec!, target: new DeploymentTarget({ kubeConfig, namespace: 'default', name: 'dj' }), backlog: a }], logger, registry });
    await fx.redis.xgroup('CREATECONSUMER', a.stream, 'g1', 'gone-pod');
    const janitor = new Janitor({ redis: fx.redis, stream: a.stream, group: 'g1', logger, probe: async () => () => 'gone', goneMinIdleMs: 0, metrics: set.janitorMetrics('jan')! });
    const report = await janitor.runOnce();
    expect(report.deleted).toEqual(['gone-pod']);
    const text = await registry.metrics();
    expect(text).toContain('stream_workers_autoscaler_janitor_consumers_deleted_total{pool="jan"} 1');
    expect(text).toContain('stream_workers_autoscaler_janitor_consumers_kept_pending{pool="jan"} 0');
    await janitor.close();
    await set.close();
  });
});
