/**
 * The scaling signal from a real Redis (core's readGroupBacklog) into the decision loop, and what
 * happens when Redis goes away: a private redis-server that the test kills (never the shared one).
 * The target is a Deployment on the Kubernetes API DOUBLE over real HTTP; the clock is simulated.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { closeRedis, createRedis, readGroupBacklog } from '@stream-workers/core';
import { Autoscaler } from '../src/autoscaler';
import { BacklogSource } from '../src/backlog-source';
import { DeploymentTarget } from '../src/targets/deployment-target';
import { loadKubeConfig } from '../src/kube-config';
import { KubeApiDouble, writeKubeconfig } from './support/kube-api-double';
import { SimClock, captureLogger } from './support/helpers';
import { PrivateRedis } from '../../../test-support/redis';

const NS = 'bk';

describe('backlog from Redis → decisions (private Redis, Kubernetes API double)', () => {
  let server: PrivateRedis;
  let api: KubeApiDouble;
  let dir: string;
  let admin: Redis;

  beforeEach(async () => {
    server = await PrivateRedis.start();
    admin = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    admin.on('error', () => undefined);
    await admin.connect();
    api = await new KubeApiDouble().start();
    dir = mkdtempSync(join(tmpdir(), 'sw-bk-'));
    api.addDeployment({ name: 'workers', namespace: NS, replicas: 0 });
  });
  afterEach(async () => {
    admin.disconnect();
    await server.stop();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function make(fallbackReplicas?: number) {
    const { logger, lines } = captureLogger();
    const redis = createRedis({ url: server.url, role: 'command', logger, maxBackoffMs: 200, connectTimeoutMs: 500 });
    const backlog = new BacklogSource({ redis, stream: 'events', group: 'workers', read: readGroupBacklog, logger });
    const target = new DeploymentTarget({ kubeConfig: loadKubeConfig(writeKubeconfig(dir, api.url, 'sa', NS)), namespace: NS, name: 'workers' });
    const clock = new SimClock();
    const autoscaler = new Autoscaler({
      target, backlog, logger, now: clock.now, pollIntervalMs: 100,
      policy: { targetPerReplica: 100, maxReplicas: 20, cooldownS: 60, scaleDownWindowS: 30, fallbackReplicas },
    });
    return { redis, backlog, autoscaler, clock, lines };
  }

  test('missing stream = 0, missing group = the whole stream, lag + pending once the group exists', async () => {
    const { redis, backlog } = make();
    try {
      expect(await backlog.read()).toBe(0); // no stream
      for (let i = 0; i < 350; i++) await admin.xadd('events', '*', 'n', String(i));
      expect(await backlog.read()).toBe(350); // no group: the whole stream
      await admin.xgroup('CREATE', 'events', 'workers', '0');
      await admin.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 100, 'STREAMS', 'events', '>');
      const ids = ((await admin.xrange('events', '-', '+', 'COUNT', 40)) as Array<[string, string[]]>).map(([id]) => id);
      await admin.xack('events', 'workers', ...ids);
      expect(await backlog.read()).toBe(250 + 60); // lag 250 + pending 60
    } finally {
      await closeRedis(redis);
    }
  });

  test('Redis unreachable: replicas are held, never scaled to zero, even past the cooldown; one log line', async () => {
    const { redis, autoscaler, clock, lines } = make();
    try {
      for (let i = 0; i < 500; i++) await admin.xadd('events', '*', 'n', String(i));
      await autoscaler.tick();
      clock.advance(15);
      await autoscaler.tick();
      expect(api.deployment('workers', NS)!.replicas).toBe(5);

      await server.stopProcess('SIGKILL');
      for (let i = 0; i < 4; i++) {
        clock.advance(60); // well past the cooldown and the window
        const o = await autoscaler.tick();
        expect(o).toMatchObject({ kind: 'decided', decision: { reason: 'no-data-hold', desired: 5 } });
      }
      expect(api.deployment('workers', NS)!.replicas).toBe(5);
      expect(lines.filter((l) => String(l.msg).startsWith('cannot read the backlog'))).toHaveLength(1);
    } finally {
      await closeRedis(redis);
    }
  });

  test('Redis unreachable with FALLBACK_REPLICAS: the fallback count', async () => {
    const { redis, autoscaler, clock } = make(2);
    try {
      for (let i = 0; i < 800; i++) await admin.xadd('events', '*', 'n', String(i));
      await autoscaler.tick();
      expect(api.deployment('workers', NS)!.replicas).toBe(4);
      await server.stopProcess('SIGKILL');
      clock.advance(5);
      expect(await autoscaler.tick()).toMatchObject({ decision: { reason: 'no-data-fallback', desired: 2 } });
      expect(api.deployment('workers', NS)!.replicas).toBe(2);
    } finally {
      await closeRedis(redis);
    }
  });
});
