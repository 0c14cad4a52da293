/**
 * Issue 14 on the real node (make cluster-up), one release for the three cases:
 *  - pools: inventory and notification read `orders` in their own groups, payments reads `payments`;
 *    each pool runs its own image (FROM the e2e image with a handler file added, as
 *    examples/two-pools/Dockerfile) whose handler records every event id in the pool's own ledger;
 *  - an external target: billing-api, a Deployment the chart does not render (a user-like image whose
 *    own entry point calls the worker library), scaled by the release's autoscaler;
 *  - secure by default: Redis refuses a client without the password, every service connects with it,
 *    and `helm upgrade` keeps the password.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import {
  buildDerivedImage, buildE2eImage, clusterIP, diagnostics, helm, kubectl, kubectlJson, ledger, LOCAL_VALUES, names, outstanding, publish,
  redisOf, redisPassword, sequence, CHART_DIR, useNamespace,
} from './support/cluster';

const NS = 'sw-e2e-pools';
const RELEASE = 'shop';
const n = names(RELEASE);
const ORDERS = 'orders';
const PAYMENTS = 'payments';
const ORDER_BURST = 10_000;
const PAYMENT_EVENTS = 50; // below payments' targetPerReplica: it stays at its minimum
const BILLING = 'billing-api';
const log = (msg: string): void => void process.stdout.write(`[k8s pools] ${msg}\n`);

/** Each pool: its stream, group, image tag, ledger key (baked into its image), Deployment and bounds. */
const POOLS = {
  inventory: { stream: ORDERS, group: 'inventory', min: 0, max: 2, deployment: `${n.worker.replace(/-worker$/, '')}-inventory` },
  notification: { stream: ORDERS, group: 'notification', min: 0, max: 3, deployment: `${n.worker.replace(/-worker$/, '')}-notification` },
  payments: { stream: PAYMENTS, group: 'ledger', min: 1, max: 3, deployment: `${n.worker.replace(/-worker$/, '')}-payments` },
  billing: { stream: ORDERS, group: 'billing', min: 0, max: 2, deployment: BILLING },
} as const;
type PoolName = keyof typeof POOLS;
const ledgerKey = (pool: PoolName): string => `e2e:pool:${pool}`;
const imageOf = (pool: PoolName): string => `stream-workers-pool-${pool}:e2e`;

/** A pool's handler file as a user writes it: the recording handler with the pool's own ledger. */
const handlerFile = (pool: PoolName): string =>
  `process.env.RECORD_KEY = ${JSON.stringify(ledgerKey(pool))};\nmodule.exports = require('/app/test-support/handlers/recording-handler.js');\n`;

function values(): string {
  const pool = (name: 'inventory' | 'notification' | 'payments', workMs: number, auto: Record<string, number>): Record<string, unknown> => ({
    stream: POOLS[name].stream,
    group: POOLS[name].group,
    image: { repository: imageOf(name).split(':')[0], tag: 'e2e' },
    handler: '/app/handlers/handler.js',
    concurrency: 10,
    env: [{ name: 'RECORD_WORK_MS', value: String(workMs) }],
    autoscaling: { minReplicas: POOLS[name].min, maxReplicas: POOLS[name].max, ...auto },
  });
  return JSON.stringify({
    stream: ORDERS,
    workers: {
      inventory: pool('inventory', 50, { targetPerReplica: 500 }),
      notification: pool('notification', 30, { targetPerReplica: 300 }),
      payments: pool('payments', 5, { targetPerReplica: 100 }),
      billing: {
        stream: ORDERS,
        group: POOLS.billing.group,
        external: { deploymentName: BILLING, podLabels: { app: BILLING } },
        autoscaling: { minReplicas: 0, maxReplicas: POOLS.billing.max, targetPerReplica: 1000 },
      },
    },
    autoscaling: { builtin: { janitorIntervalMs: 2000 } },
  });
}

/** The user's own Deployment (0 replicas: the release's autoscaler owns the count). */
function billingDeployment(): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: BILLING, namespace: NS, labels: { app: BILLING } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: BILLING } },
      template: {
        metadata: { labels: { app: BILLING } },
        spec: {
          terminationGracePeriodSeconds: 20,
          containers: [{
            name: 'app',
            image: imageOf('billing'),
            imagePullPolicy: 'Never',
            command: ['node', '/app/billing/app.js'],
            env: [
              { name: 'REDIS_URL', value: `redis://${n.redis}:6379` },
              { name: 'REDIS_PASSWORD', valueFrom: { secretKeyRef: { name: `${n.redis}-auth`, key: 'password' } } },
              { name: 'STREAM', value: ORDERS },
              { name: 'GROUP', value: POOLS.billing.group },
              { name: 'LEDGER_KEY', value: ledgerKey('billing') },
            ],
            resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
          }],
        },
      },
    },
  });
}

/** spec.replicas of every Deployment of the namespace, once a second, as a timeline per Deployment. */
class Timelines {
  readonly of = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;

  start(): this {
    const tick = (): void => {
      const list = kubectlJson(['-n', NS, 'get', 'deployments']) as { items: Array<{ metadata: { name: string }; spec: { replicas?: number } }> };
      for (const d of list.items) {
        const t = this.of.get(d.metadata.name) ?? [];
        const r = d.spec.replicas ?? 1;
        if (t[t.length - 1] !== r) t.push(r);
        this.of.set(d.metadata.name, t);
      }
      this.timer = setTimeout(tick, 1000);
    };
    tick();
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  last(deployment: string): number | undefined {
    const t = this.of.get(deployment);
    return t?.[t.length - 1];
  }
}

async function autoscalerMetrics(): Promise<string> {
  return (await fetch(`http://${clusterIP(NS, n.autoscaler)}:8083/metrics`)).text();
}

async function readyz(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [svc, port] of [[n.producer, 8080], [n.exporter, 8082], [n.autoscaler, 8083]] as const) {
    out[svc] = (await fetch(`http://${clusterIP(NS, svc)}:${port}/readyz`).catch(() => undefined))?.status ?? 0;
  }
  return out;
}

/** Sends inline commands on a fresh socket (no AUTH) and returns the first reply line of each. */
function rawRedis(host: string, commands: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: 6379 });
    let buffered = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no ${commands.length} replies from ${host}:6379 (got ${JSON.stringify(buffered)})`)); }, 10_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(commands.map((c) => `${c}\r\n`).join('')));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\r\n').filter(Boolean);
      if (lines.length >= commands.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(lines.slice(0, commands.length));
      }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Names of the clients connected to Redis (CLIENT LIST), e.g. producer, lag-exporter, worker:<pod>. */
async function clientNames(redis: Redis): Promise<string[]> {
  const list = String(await redis.client('LIST'));
  return list.split('\n').map((l) => /(?:^| )name=(\S*)/.exec(l)?.[1] ?? '').filter(Boolean);
}

describe('pools, an external Deployment and the Redis password by default, in one release', () => {
  let redis: Redis;
  let password: string;
  const timelines = new Timelines();
  const ids: Record<PoolName, string[]> = { inventory: [], notification: [], payments: [], billing: [] };
  const step = sequence(() => log(`failed; the cluster says:\n${diagnostics(NS)}`));

  useNamespace(NS);
  beforeAll(() => {
    buildE2eImage();
    for (const pool of ['inventory', 'notification', 'payments'] as const) buildDerivedImage(imageOf(pool), { '/app/handlers/handler.js': handlerFile(pool) });
    buildDerivedImage(imageOf('billing'), { '/app/billing/app.js': readFileSync(join(__dirname, 'support', 'billing-app.js'), 'utf8') });
  });
  afterAll(() => {
    timelines.stop();
    redis?.disconnect();
  });

  step('1. install: the user\'s Deployment first, then the release with three pools and the external one', async () => {
    kubectl(['apply', '-f', '-'], billingDeployment());
    const valuesFile = join(mkdtempSync(join(tmpdir(), 'sw-pools-')), 'values.json');
    writeFileSync(valuesFile, values());
    helm(['install', RELEASE, CHART_DIR, '--namespace', NS, '--values', LOCAL_VALUES, '--values', valuesFile, '--wait', '--timeout', '5m']);
    const role = kubectlJson(['-n', NS, 'get', 'role', n.autoscaler]) as { rules: Array<{ resources: string[]; resourceNames?: string[] }> };
    const scaled = role.rules.find((r) => r.resources.includes('deployments/scale'))?.resourceNames ?? [];
    log(`autoscaler Role scales exactly: ${scaled.join(', ')}`);
    expect([...scaled].sort()).toEqual(Object.values(POOLS).map((p) => p.deployment).sort());
    for (const pool of ['inventory', 'notification', 'payments'] as const) {
      const image = kubectl(['-n', NS, 'get', 'deployment', POOLS[pool].deployment, '-o', 'jsonpath={.spec.template.spec.containers[0].image}']);
      expect({ pool, image }).toEqual({ pool, image: imageOf(pool) });
    }
  });

  step('2. secure by default: Redis answers NOAUTH without the password; every service connects with it; no password in a REDIS_URL', async () => {
    password = redisPassword(NS, RELEASE) ?? '';
    expect(password.length).toBeGreaterThanOrEqual(16);
    // A client that brings no password, speaking RESP on a plain socket: one reply line per command.
    const [ping, wrongAuth, get] = await rawRedis(clusterIP(NS, n.redis), ['PING', 'AUTH not-the-password', 'GET anything']);
    log(`without the password: PING -> ${ping}; AUTH with a wrong one -> ${wrongAuth}; GET -> ${get}`);
    expect(ping).toMatch(/^-NOAUTH/);
    expect(wrongAuth).toMatch(/^-(WRONGPASS|ERR invalid password)/);
    expect(get).toMatch(/^-NOAUTH/);

    redis = await redisOf(NS, RELEASE);
    expect(await redis.ping()).toBe('PONG');
    await waitFor(async () => Object.values(await readyz()).every((s) => s === 200), 60_000, 500, 'producer, exporter and autoscaler /readyz 200');
    await waitFor(async () => {
      const names = await clientNames(redis);
      return ['producer', 'lag-exporter', 'autoscaler'].every((s) => names.includes(s)) && names.some((x) => x.startsWith('worker:'));
    }, 60_000, 500, 'every service connected to Redis');
    log(`readyz: ${JSON.stringify(await readyz())}; Redis clients: ${[...new Set(await clientNames(redis))].sort().join(', ')}`);
    const urls = (kubectlJson(['-n', NS, 'get', 'deployments']).items as Array<{ spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } } }>)
      .flatMap((d) => d.spec.template.spec.containers.flatMap((c) => c.env ?? []))
      .filter((e) => e.name === 'REDIS_URL')
      .map((e) => e.value ?? '');
    expect(urls.length).toBeGreaterThanOrEqual(4);
    expect(urls.filter((u) => u.includes('@') || u.includes(password))).toEqual([]);
  });

  step('3. every pool at its minimum before the burst', async () => {
    timelines.start();
    await waitFor(() => Object.values(POOLS).every((p) => timelines.last(p.deployment) === p.min), 180_000, 1000, 'inventory 0, notification 0, payments 1, billing 0');
    for (const p of Object.values(POOLS)) timelines.of.set(p.deployment, [p.min]);
  });

  step('4. a burst on orders scales inventory, notification and billing-api each on its own backlog (0 -> N -> 0); payments stays at 1; 0 lost per pool', async () => {
    const peaks = new Map<string, number>();
    const metricsPoll = setInterval(() => {
      void autoscalerMetrics().then((text) => {
        for (const m of text.matchAll(/^stream_workers_autoscaler_desired_replicas\{pool="([^"]+)"\} (\d+)/gm)) peaks.set(m[1]!, Math.max(peaks.get(m[1]!) ?? 0, Number(m[2])));
      }, () => undefined);
    }, 1000);
    try {
      const orders = await publish(NS, RELEASE, ORDERS, ORDER_BURST, { prefix: 'order' });
      const payments = await publish(NS, RELEASE, PAYMENTS, PAYMENT_EVENTS, { prefix: 'payment' });
      ids.inventory = ids.notification = ids.billing = orders;
      ids.payments = payments;
      for (const [name, p] of Object.entries(POOLS)) {
        await waitFor(async () => (await outstanding(redis, p.stream, p.group)) === 0, 420_000, 1000, `${name}'s group drained`);
      }
      await waitFor(() => Object.values(POOLS).every((p) => timelines.last(p.deployment) === p.min), 180_000, 1000, 'every pool back at its minimum');
    } finally {
      clearInterval(metricsPoll);
    }
    const results: Record<string, unknown> = {};
    for (const name of Object.keys(POOLS) as PoolName[]) {
      const p = POOLS[name];
      const counts = await ledger(redis, ledgerKey(name), ids[name]);
      const timeline = timelines.of.get(p.deployment) ?? [];
      results[name] = { events: ids[name].length, ...counts, replicas: timeline.join(' -> '), peakDesired: peaks.get(name) };
    }
    log(`per pool: ${JSON.stringify(results, null, 1)}`);
    for (const name of Object.keys(POOLS) as PoolName[]) {
      const r = results[name] as { lost: number; done: number };
      expect({ name, lost: r.lost, done: r.done }).toEqual({ name, lost: 0, done: ids[name].length });
    }
    // Each orders pool reached its own maximum (the burst is far above every pool's targetPerReplica ×
    // maxReplicas) and came back to 0; payments never moved from its minimum of 1.
    const peak = (pool: PoolName): number => Math.max(...(timelines.of.get(POOLS[pool].deployment) ?? [0]));
    expect({ inventory: peak('inventory'), notification: peak('notification'), billing: peak('billing') }).toEqual({ inventory: 2, notification: 3, billing: 2 });
    expect(timelines.of.get(POOLS.payments.deployment)).toEqual([1]);
    for (const pool of ['inventory', 'notification', 'billing'] as const) {
      const t = timelines.of.get(POOLS[pool].deployment)!;
      expect({ pool, first: t[0], last: t[t.length - 1] }).toEqual({ pool, first: 0, last: 0 });
    }
  });

  step('5. helm upgrade keeps the Redis password; every service restarted connects with it', async () => {
    helm(['upgrade', RELEASE, CHART_DIR, '--namespace', NS, '--reuse-values', '--set', 'autoscaling.cooldownPeriodSeconds=11', '--wait', '--timeout', '5m']);
    const after = redisPassword(NS, RELEASE);
    expect(after === password).toBe(true); // (not toEqual: a failure must not print the password)
    const own = ['producer', 'lag-exporter', 'autoscaler', 'payments'].map((c) => `deployment/${n.worker.replace(/-worker$/, '')}-${c}`);
    kubectl(['-n', NS, 'rollout', 'restart', ...own]);
    for (const d of own) kubectl(['-n', NS, 'rollout', 'status', d, '--timeout=180s']);
    await waitFor(async () => Object.values(await readyz()).every((s) => s === 200), 60_000, 500, 'services Ready after the restart');
    const fresh = await redisOf(NS, RELEASE, { password });
    expect(await fresh.ping()).toBe('PONG');
    fresh.disconnect();
    log(`after helm upgrade: password unchanged (${after === password}); restarted ${own.join(', ')}; readyz ${JSON.stringify(await readyz())}`);
  });
});
