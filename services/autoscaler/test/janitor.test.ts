/**
 * The dead-consumer janitor against the real (shared) Redis with unique keys; pods come from the
 * Kubernetes API DOUBLE over real HTTP (no cluster here).
 */
import type Redis from 'ioredis';
import { createRegistry } from '@stream-workers/core';
import { Janitor, type LivenessProbe } from '../src/janitor';
import { DeploymentTarget } from '../src/targets/deployment-target';
import { loadKubeConfig } from '../src/kube-config';
import { type KubeApiDouble, writeKubeconfig } from './support/kube-api-double';
import { captureLogger, kubeAndRedisFixture } from './support/helpers';
import { waitFor } from '../../../test-support/process';

const NS = 'jan';
const GROUP = 'workers';

async function consumers(redis: Redis, stream: string): Promise<Record<string, number>> {
  const raw = (await redis.xinfo('CONSUMERS', stream, GROUP)) as unknown[][];
  const out: Record<string, number> = {};
  for (const c of raw) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < c.length; i += 2) o[String(c[i])] = c[i + 1];
    out[String(o.name)] = Number(o.pending);
  }
  return out;
}

/** Each consumer's idle time in ms as Redis reports it (XINFO CONSUMERS). */
async function idleMs(redis: Redis, stream: string): Promise<Record<string, number>> {
  const raw = (await redis.xinfo('CONSUMERS', stream, GROUP)) as unknown[][];
  const out: Record<string, number> = {};
  for (const c of raw) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < c.length; i += 2) o[String(c[i])] = c[i + 1];
    out[String(o.name)] = Number(o.idle);
  }
  return out;
}

/** Makes `name` a consumer holding `pending` delivered-but-unacked entries (0 = read and acked). */
async function makeConsumer(redis: Redis, stream: string, name: string, pending: number): Promise<void> {
  if (pending === 0) {
    await redis.xgroup('CREATECONSUMER', stream, GROUP, name);
    return;
  }
  await redis.xreadgroup('GROUP', GROUP, name, 'COUNT', pending, 'STREAMS', stream, '>');
}

describe('dead-consumer janitor', () => {
  const fx = kubeAndRedisFixture('janitor');
  let redis: Redis;
  let prefix: string;
  let stream: string;
  let api: KubeApiDouble;
  let dir: string;
  beforeEach(async () => {
    ({ api, dir, redis, prefix } = fx);
    stream = `${prefix}:events`;
    await redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
    for (let i = 0; i < 20; i++) await redis.xadd(stream, '*', 'n', String(i));
  });

  function podProbe(): LivenessProbe {
    const target = new DeploymentTarget({ kubeConfig: loadKubeConfig(writeKubeconfig(dir, api.url, 'janitor', NS)), namespace: NS, name: 'workers' });
    return async () => {
      const selector = await target.podSelector();
      const live = await target.podNames(selector!);
      return (c) => (live.has(c) ? 'alive' : 'gone');
    };
  }

  test('pods gone: consumers holding entries are never deleted; those with 0 pending are', async () => {
    api.addDeployment({ name: 'workers', namespace: NS, matchLabels: { app: 'workers', tier: 'w' } });
    api.addPod({ name: 'worker-alive-idle', namespace: NS, labels: { app: 'workers', tier: 'w' } });
    api.addPod({ name: 'worker-alive-busy', namespace: NS, labels: { app: 'workers', tier: 'w' } });
    api.addPod({ name: 'worker-gone-empty-2', namespace: NS, labels: { app: 'other' } }); // exists, but not a worker pod
    await makeConsumer(redis, stream, 'worker-alive-idle', 0);
    await makeConsumer(redis, stream, 'worker-alive-busy', 2);
    await makeConsumer(redis, stream, 'worker-gone-holding', 3);
    await makeConsumer(redis, stream, 'worker-gone-holding-1', 1);
    await makeConsumer(redis, stream, 'worker-gone-empty', 0);
    await makeConsumer(redis, stream, 'worker-gone-empty-2', 0);
    const before = await consumers(redis, stream);
    const pendingBefore = (await redis.xpending(stream, GROUP)) as [number, ...unknown[]];

    const { logger, lines } = captureLogger();
    const registry = createRegistry({ processMetrics: false });
    const janitor = new Janitor({ redis, stream, group: GROUP, logger, probe: podProbe(), registry });
    const report = await janitor.runOnce();

    expect(report.deleted.sort()).toEqual(['worker-gone-empty', 'worker-gone-empty-2']);
    expect(report.keptPending).toEqual(expect.arrayContaining([{ name: 'worker-gone-holding', pending: 3 }, { name: 'worker-gone-holding-1', pending: 1 }]));
    const after = await consumers(redis, stream);
    expect(after).toEqual({ 'worker-alive-idle': 0, 'worker-alive-busy': 2, 'worker-gone-holding': 3, 'worker-gone-holding-1': 1 });
    // No entry lost from the PEL: nothing with pending > 0 was deleted.
    expect(((await redis.xpending(stream, GROUP)) as [number])[0]).toBe(pendingBefore[0]);
    expect(Object.values(before).reduce((a, b) => a + b, 0)).toBe(6);
    expect(lines.filter((l) => String(l.msg).includes('still holds entries')).map((l) => l.consumer).sort()).toEqual(['worker-gone-holding', 'worker-gone-holding-1']);
    expect(await registry.metrics()).toContain('stream_workers_autoscaler_janitor_consumers_deleted_total 2');

    // A live worker reclaims the gone consumer's entries (XAUTOCLAIM) and acks them: the next run deletes it.
    const [, claimed] = (await redis.xautoclaim(stream, GROUP, 'worker-alive-idle', 0, '0-0', 'COUNT', 100)) as [string, Array<[string, string[]]>];
    expect(claimed).toHaveLength(6);
    const fromGone = claimed.map(([id]) => id);
    await redis.xack(stream, GROUP, ...fromGone);
    const second = await janitor.runOnce();
    expect(second.deleted.sort()).toEqual(['worker-gone-holding', 'worker-gone-holding-1']);
    expect(Object.keys(await consumers(redis, stream)).sort()).toEqual(['worker-alive-busy', 'worker-alive-idle']);
    await janitor.close();
  });

  test('the pending check and the delete are atomic: a consumer that reads between listing and delete is kept', async () => {
    await makeConsumer(redis, stream, 'worker-late', 0);
    const { logger } = captureLogger();
    // The probe runs after the listing (pending was 0 then); the "gone" worker reads one entry meanwhile.
    const probe: LivenessProbe = async () => {
      await redis.xreadgroup('GROUP', GROUP, 'worker-late', 'COUNT', 1, 'STREAMS', stream, '>');
      return () => 'gone';
    };
    const janitor = new Janitor({ redis, stream, group: GROUP, logger, probe });
    const report = await janitor.runOnce();
    expect(report.deleted).toEqual([]);
    expect(report.raced).toEqual(['worker-late']);
    expect(await consumers(redis, stream)).toEqual({ 'worker-late': 1 });
  });

  test('outside Kubernetes: idle ≥ JANITOR_IDLE_MS and 0 pending is deleted; busy, recent or alive consumers are kept', async () => {
    await makeConsumer(redis, stream, 'old-empty', 0);
    await makeConsumer(redis, stream, 'old-holding', 2);
    await makeConsumer(redis, stream, 'alive-old-empty', 0);
    // Until Redis reports all three idle beyond JANITOR_IDLE_MS (1500 ms below).
    await waitFor(async () => Object.entries(await idleMs(redis, stream)).every(([, idle]) => idle > 1600), 30_000, 50, 'the old consumers to be idle > 1600 ms');
    await makeConsumer(redis, stream, 'fresh-empty', 0);
    const { logger } = captureLogger();
    const janitor = new Janitor({
      redis, stream, group: GROUP, logger, unknownIdleMs: 1500,
      probe: async () => (c) => (c === 'alive-old-empty' ? 'alive' : 'unknown'),
    });
    const report = await janitor.runOnce();
    expect(report.deleted).toEqual(['old-empty']);
    expect(await consumers(redis, stream)).toEqual({ 'old-holding': 2, 'alive-old-empty': 0, 'fresh-empty': 0 });
  });

  test('no stream or group: nothing to do; a failing pod list deletes nothing and is logged once', async () => {
    const { logger, lines } = captureLogger();
    const missing = new Janitor({ redis, stream: `${prefix}:nope`, group: GROUP, logger, probe: async () => () => 'gone' });
    expect((await missing.runOnce()).noGroup).toBe(true);

    await makeConsumer(redis, stream, 'worker-x', 0);
    api.addDeployment({ name: 'workers', namespace: NS });
    api.inject({ path: /\/pods$/, status: 403 });
    const janitor = new Janitor({ redis, stream, group: GROUP, logger, probe: podProbe() });
    await expect(janitor.runOnce()).rejects.toThrow(/may not list pods/);
    await expect(janitor.runOnce()).rejects.toThrow(/may not list pods/);
    expect(lines.filter((l) => l.msg === 'janitor run failed; retrying at the next interval')).toHaveLength(1);
    expect(await consumers(redis, stream)).toEqual({ 'worker-x': 0 });
  });
});
