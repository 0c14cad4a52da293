/**
 * Worker pools (`workers:` over `workerDefaults`): every pool option rendered where it belongs, the
 * autoscaler's POOLS document and Role, KEDA per pool, external Deployments, the schema naming a typo
 * inside a pool, restricted pods without runAsUser, ServiceAccounts and the generated Redis password.
 * helm template only (no cluster).
 */
import { join } from 'node:path';
import { find, helm, one, render, templateArgs, REPO_ROOT, type K8sObject } from './support/helm';
import { podSpecOf, restrictedViolations, type PodSpec } from './support/pss';
import { parsePools } from '../../services/autoscaler/src/pools-config';

interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  envFrom?: unknown[];
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  resources?: unknown;
  securityContext?: Record<string, unknown>;
}
type Pod = PodSpec & { containers: Container[]; priorityClassName?: string; serviceAccountName?: string; automountServiceAccountToken?: boolean; volumes?: Array<{ name: string }>; nodeSelector?: Record<string, string>; tolerations?: unknown[]; terminationGracePeriodSeconds?: number; securityContext?: Record<string, unknown> };
type Deployment = K8sObject & { spec: { replicas?: number; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: Pod } } };

const EXAMPLE = join(REPO_ROOT, 'examples', 'two-pools', 'values.yaml');
const env = (c: Container): Record<string, string | undefined> => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom ? '<from>' : undefined)]));
const deployment = (objs: K8sObject[], pool: string): Deployment => one(objs, 'Deployment', `-${pool}`) as Deployment;
const poolsOf = (objs: K8sObject[]) => {
  const c = deployment(objs, 'autoscaler').spec.template.spec.containers[0]!;
  return parsePools(env(c).POOLS!);
};

describe('examples/two-pools/values.yaml', () => {
  const objs = render({ valuesFiles: [EXAMPLE], release: 'shop' });

  test('a Deployment, PDB and metrics Service per rendered pool; nothing rendered for the external one', () => {
    const deps = find(objs, 'Deployment').map((d) => d.metadata.name).sort();
    expect(deps).toEqual(['shop-stream-workers-autoscaler', 'shop-stream-workers-inventory', 'shop-stream-workers-lag-exporter', 'shop-stream-workers-notification', 'shop-stream-workers-payments', 'shop-stream-workers-producer']);
    expect(find(objs, 'PodDisruptionBudget').map((o) => o.metadata.name).sort()).toEqual(['shop-stream-workers-inventory', 'shop-stream-workers-notification', 'shop-stream-workers-payments']);
    expect(find(objs, 'Service').filter((o) => o.metadata.name.endsWith('-metrics')).map((o) => o.metadata.name).sort()).toEqual(['shop-stream-workers-inventory-metrics', 'shop-stream-workers-notification-metrics', 'shop-stream-workers-payments-metrics']);
    expect(objs.some((o) => o.metadata.name.includes('billing'))).toBe(false);
  });

  test('each pool reads its stream with its group, runs its image and handler, with the defaults it inherits and its overrides', () => {
    const inv = deployment(objs, 'inventory').spec.template.spec.containers[0]!;
    expect(inv.image).toBe('registry.example.com/shop/inventory-worker:1.0');
    expect(env(inv)).toMatchObject({ STREAM: 'orders', GROUP: 'inventory', HANDLER: '/app/handlers/handler.js', CONCURRENCY: '20', CLAIM_IDLE_MS: '30000' });
    // The dead-letter stream is left to the worker (orders:dlq; {orders}:dlq in Redis Cluster; one per shard).
    expect(env(inv)).not.toHaveProperty('DEAD_LETTER_STREAM');
    const note = deployment(objs, 'notification');
    const n = note.spec.template.spec.containers[0]!;
    expect(env(n)).toMatchObject({ STREAM: 'orders', GROUP: 'notification', SMTP_HOST: 'smtp.example.com' });
    expect(n.envFrom).toEqual([{ secretRef: { name: 'notification-smtp' } }]);
    expect(note.spec.template.metadata.labels).toMatchObject({ team: 'messaging', 'stream-workers.io/pool': 'notification', 'app.kubernetes.io/component': 'notification' });
    const pay = deployment(objs, 'payments').spec.template.spec.containers[0]!;
    expect(pay.image).toBe('ghcr.io/stream-workers/stream-workers:0.1.0');
    expect(env(pay)).toMatchObject({ STREAM: 'payments', GROUP: 'ledger', BATCH_SIZE: '20', MAX_DELIVERIES: '3' });
    expect(pay.args).toEqual(['services/worker/dist/main.js']);
  });

  test('one autoscaler serves every builtin pool: POOLS with each policy, a Role scaling exactly those Deployments', () => {
    const pools = poolsOf(objs);
    expect(pools.map((p) => [p.name, p.stream, p.group, p.deployment, p.targetPerReplica, p.minReplicas, p.maxReplicas])).toEqual([
      ['billing', 'orders', 'billing', 'billing-api', 100, 0, 10],
      ['inventory', 'orders', 'inventory', 'shop-stream-workers-inventory', 200, 0, 10],
      ['notification', 'orders', 'notification', 'shop-stream-workers-notification', 50, 1, 10],
      ['payments', 'payments', 'ledger', 'shop-stream-workers-payments', 100, 0, 3],
    ]);
    expect(pools.find((p) => p.name === 'billing')!.podSelector).toBe('app=billing-api');
    expect(pools.find((p) => p.name === 'inventory')!.podSelector).toBe('app.kubernetes.io/name=stream-workers,app.kubernetes.io/instance=shop,app.kubernetes.io/component=inventory');
    const role = one(objs, 'Role') as K8sObject & { rules: Array<{ apiGroups: string[]; resources: string[]; resourceNames?: string[] }> };
    for (const r of role.rules.filter((x) => x.apiGroups.includes('apps'))) expect([...r.resourceNames!].sort()).toEqual(pools.map((p) => p.deployment).sort());
  });

  test('the producer accepts every pool\'s stream (its generated API token may write to each); the exporter exports every stream', () => {
    expect(env(deployment(objs, 'producer').spec.template.spec.containers[0]!).STREAMS).toBe('orders,payments');
    const tokens = (one(objs, 'Secret', '-producer-tokens') as K8sObject & { data: Record<string, string> }).data.tokens!;
    expect(Buffer.from(tokens, 'base64').toString()).toMatch(/^default [0-9a-f]{64} orders,payments$/m);
    const defaults = one(render({ set: ['workers.a.stream=a1', 'workers.b.stream=b1'] }), 'Secret', '-producer-tokens') as K8sObject & { data: Record<string, string> };
    expect(Buffer.from(defaults.data.tokens!, 'base64').toString()).toMatch(/^default [0-9a-f]{64} events,a1,b1$/m);
    expect(env(deployment(objs, 'lag-exporter').spec.template.spec.containers[0]!).STREAMS).toBe('*');
  });
});

describe('every pool option', () => {
  const objs = render({
    set: [
      'workers.a.stream=s1', 'workers.a.group=g1',
      'workers.a.image.repository=my/img', 'workers.a.image.digest=sha256:' + 'a'.repeat(64), 'workers.a.image.pullPolicy=Always',
      'workers.a.command[0]=node', 'workers.a.args[0]=my-worker.js',
      'workers.a.handler=/handlers/h.js',
      'workers.a.env[0].name=X', 'workers.a.env[0].value=one',
      'workers.a.envFrom[0].configMapRef.name=cm',
      'workers.a.extraVolumes[0].name=handlers', 'workers.a.extraVolumes[0].configMap.name=handler-cm',
      'workers.a.extraVolumeMounts[0].name=handlers', 'workers.a.extraVolumeMounts[0].mountPath=/handlers',
      'workers.a.podLabels.team=t', 'workers.a.podAnnotations.note=n',
      'workers.a.priorityClassName=high',
      'workers.a.nodeSelector.pool=big', 'workers.a.tolerations[0].key=k', 'workers.a.tolerations[0].operator=Exists',
      'workers.a.resources.requests.cpu=300m',
      'workers.a.batchSize=7', 'workers.a.concurrency=3', 'workers.a.blockMs=900', 'workers.a.claimIdleMs=4000', 'workers.a.maxDeliveries=9',
      'workers.a.retryDelayMs=50', 'workers.a.deadLetterStream=dead', 'workers.a.groupStartId=$', 'workers.a.shutdownGraceMs=5000', 'workers.a.terminationGraceExtraSeconds=2',
      'workers.a.podDisruptionBudget.maxUnavailable=2', 'workers.a.topologySpread.enabled=false',
      'workers.a.serviceAccountName=team-a',
      'workers.a.securityContext.readOnlyRootFilesystem=true',
      'workers.a.autoscaling.maxReplicas=6', 'workers.a.autoscaling.targetPerReplica=33', 'workers.a.autoscaling.pollingIntervalSeconds=2',
      'workers.a.envelope=json-field', 'workers.a.envelopeField=payload',
      'workers.a.autoscaling.scalingMode=rate', 'workers.a.autoscaling.targetDrainSeconds=12', 'workers.a.autoscaling.targetLagSeconds=4',
      'workers.a.autoscaling.rateWindowSeconds=8', 'workers.a.autoscaling.activationWatch=false',
      'workers.d.stream=s3', 'workers.d.group=g3', 'workers.d.autoscaling.mode=keda-external', 'workers.d.autoscaling.kedaExternal.push=false',
      'workers.b.stream=s1', 'workers.b.group=g2', 'workers.b.autoscaling.mode=none', 'workers.b.replicas=3', 'workers.b.podDisruptionBudget.enabled=false',
      'workers.c.stream=s2', 'workers.c.autoscaling.mode=keda-metrics-api',
    ],
  });

  test('image, command, args, handler, env, envFrom, volumes, labels, annotations, priority, scheduling, resources and worker settings land on pool a', () => {
    const d = deployment(objs, 'a');
    const pod = d.spec.template.spec;
    const c = pod.containers[0]!;
    expect(c.image).toBe('my/img@sha256:' + 'a'.repeat(64));
    expect(c.imagePullPolicy).toBe('Always');
    expect(c.command).toEqual(['node']);
    expect(c.args).toEqual(['my-worker.js']);
    expect(env(c)).toMatchObject({ STREAM: 's1', GROUP: 'g1', HANDLER: '/handlers/h.js', X: 'one', BATCH_SIZE: '7', CONCURRENCY: '3', BLOCK_MS: '900', CLAIM_IDLE_MS: '4000', MAX_DELIVERIES: '9', RETRY_DELAY_MS: '50', DEAD_LETTER_STREAM: 'dead', GROUP_START_ID: '$', SHUTDOWN_GRACE_MS: '5000', ENVELOPE: 'json-field', ENVELOPE_FIELD: 'payload' });
    expect(env(deployment(objs, 'b').spec.template.spec.containers[0]!)).toMatchObject({ ENVELOPE: 'cloudevents', ENVELOPE_FIELD: 'event' });
    expect(env(c).SIM_WORK_MS).toBeUndefined();
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'cm' } }]);
    expect(pod.volumes).toContainEqual({ name: 'handlers', configMap: { name: 'handler-cm' } });
    expect(c.volumeMounts).toContainEqual({ name: 'handlers', mountPath: '/handlers' });
    expect(d.spec.template.metadata.labels.team).toBe('t');
    expect(d.spec.template.metadata.annotations?.note).toBe('n');
    expect(pod.priorityClassName).toBe('high');
    expect(pod.nodeSelector).toEqual({ pool: 'big' });
    expect(pod.tolerations).toEqual([{ key: 'k', operator: 'Exists' }]);
    expect(pod.terminationGracePeriodSeconds).toBe(7);
    expect(pod.serviceAccountName).toBe('team-a');
    expect((pod as { topologySpreadConstraints?: unknown }).topologySpreadConstraints).toBeUndefined();
    expect((c.resources as { requests: Record<string, string> }).requests.cpu).toBe('300m');
    expect((one(objs, 'PodDisruptionBudget', '-a') as K8sObject & { spec: { maxUnavailable: number } }).spec.maxUnavailable).toBe(2);
  });

  test('autoscaling per pool: a in the builtin autoscaler with its overrides (rate mode), b fixed at its replicas without a PDB, c and d with their own ScaledObjects', () => {
    const pools = poolsOf(objs);
    expect(pools.map((p) => p.name)).toEqual(['a']);
    expect(pools[0]).toMatchObject({ maxReplicas: 6, targetPerReplica: 33, pollIntervalMs: 2000, minReplicas: 0, stream: 's1', group: 'g1' });
    expect(pools[0]).toMatchObject({ scalingMode: 'rate', targetDrainS: 12, targetLagSeconds: 4, rateWindowS: 8, activationWatch: false });
    expect('replicas' in deployment(objs, 'a').spec).toBe(false);
    expect(deployment(objs, 'b').spec.replicas).toBe(3);
    expect(find(objs, 'PodDisruptionBudget', '-b')).toHaveLength(0);
    type ScaledObject = K8sObject & { spec: { scaleTargetRef: { name: string }; triggers: Array<{ type: string; metadata: Record<string, string> }> } };
    const so = one(objs, 'ScaledObject', '-c') as ScaledObject;
    expect(so.spec.scaleTargetRef.name).toBe(deployment(objs, 'c').metadata.name);
    expect(so.spec.triggers[0]!.metadata.url).toContain('stream=s2&group=workers');
    // keda-external in one pool only: its own stream and group; the exporter then serves gRPC.
    const ext = one(objs, 'ScaledObject', '-d') as ScaledObject;
    expect(ext.spec.triggers[0]).toMatchObject({ type: 'external', metadata: { stream: 's3', group: 'g3', metric: 'outstanding' } });
    expect(Number(env(deployment(objs, 'lag-exporter').spec.template.spec.containers[0]!).GRPC_PORT)).toBeGreaterThan(0);
  });
});

describe('values for the single pool of earlier versions', () => {
  test('`worker:` still renders the one pool named worker, with its settings', () => {
    const objs = render({ set: ['worker.batchSize=42', 'worker.handler=/x.js'] });
    const c = deployment(objs, 'worker').spec.template.spec.containers[0]!;
    expect(env(c)).toMatchObject({ BATCH_SIZE: '42', HANDLER: '/x.js', STREAM: 'events', GROUP: 'workers' });
    expect(find(objs, 'Deployment').filter((d) => d.metadata.labels?.['stream-workers.io/pool'])).toHaveLength(1);
  });
});

describe('values are checked, naming the path', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a typo inside a pool', ['--set', 'workers.x.batchsize=10'], /\/workers\/x.*additional properties 'batchsize' not allowed/s],
    ['a typo inside workerDefaults', ['--set', 'workerDefaults.concurency=1'], /\/workerDefaults.*additional properties 'concurency' not allowed/s],
    ['a pool named like a component', ['--set', 'workers.producer.stream=x'], /workers\.producer: "producer" is the name of another component/],
    ['a pool name with capitals', ['--set', 'workers.Orders.stream=x'], /workers\.Orders: a pool name must be lower case/],
    ['two pools on one stream and group', ['--set', 'workers.a.stream=s', '--set', 'workers.b.stream=s'], /workers\.b: stream "s" and group "workers" are already consumed by pool "a"/],
    ['maxReplicas below minReplicas in a pool', ['--set', 'workers.a.autoscaling.minReplicas=5', '--set', 'workers.a.autoscaling.maxReplicas=2'], /workers\.a\.autoscaling: maxReplicas \(2\) is below minReplicas \(5\)/],
  ];
  test.each(cases)('helm template rejects %s', (_what, args, message) => {
    const r = helm([...templateArgs(), ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

describe('security', () => {
  test('without runAsUser/runAsGroup/fsGroup (OpenShift assigns a random UID) every pod is still "restricted"', () => {
    const objs = render({ set: ['podSecurityContext.runAsUser=null', 'podSecurityContext.runAsGroup=null', 'podSecurityContext.fsGroup=null', 'redis.podSecurityContext=null', 'workers.a.stream=x'] });
    const pods = objs.map((o) => [o.metadata.name, podSpecOf(o)] as const).filter(([, p]) => p !== undefined);
    expect(pods.length).toBeGreaterThanOrEqual(5);
    for (const [name, pod] of pods) {
      expect({ name, violations: restrictedViolations(pod!) }).toEqual({ name, violations: [] });
      expect({ name, runAsUser: pod!.securityContext?.runAsUser }).toEqual({ name, runAsUser: undefined });
      expect(pod!.securityContext?.runAsNonRoot).toBe(true);
    }
  });

  test('security contexts are overridable per component and per pool', () => {
    const objs = render({ set: ['producer.podSecurityContext.runAsUser=2000', 'workers.a.podSecurityContext.runAsUser=3000', 'redis.securityContext.readOnlyRootFilesystem=false'] });
    expect(deployment(objs, 'producer').spec.template.spec.securityContext?.runAsUser).toBe(2000);
    expect(deployment(objs, 'a').spec.template.spec.securityContext?.runAsUser).toBe(3000);
    expect(deployment(objs, 'lag-exporter').spec.template.spec.securityContext?.runAsUser).toBe(1000);
    const sts = one(objs, 'StatefulSet') as Deployment;
    expect(sts.spec.template.spec.containers[0]!.securityContext?.readOnlyRootFilesystem).toBe(false);
    expect(sts.spec.template.spec.securityContext?.runAsUser).toBe(999);
  });

  test('a ServiceAccount per component with its annotations; an existing one by name; only the autoscaler mounts a token', () => {
    const objs = render({ set: ['serviceAccounts.worker.annotations.iam\\.gke\\.io/gcp-service-account=w@p.iam', 'serviceAccounts.producer.create=false', 'serviceAccounts.producer.name=existing-producer'] });
    const sas = find(objs, 'ServiceAccount');
    expect(sas.map((s) => s.metadata.name).sort()).toEqual(['sw-stream-workers-autoscaler', 'sw-stream-workers-lag-exporter', 'sw-stream-workers-worker']);
    expect(sas.find((s) => s.metadata.name === 'sw-stream-workers-worker')!.metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': 'w@p.iam' });
    expect(deployment(objs, 'producer').spec.template.spec.serviceAccountName).toBe('existing-producer');
    expect(deployment(objs, 'worker').spec.template.spec.serviceAccountName).toBe('sw-stream-workers-worker');
    for (const d of find(objs, 'Deployment') as Deployment[]) {
      expect({ d: d.metadata.name, token: d.spec.template.spec.automountServiceAccountToken }).toEqual({ d: d.metadata.name, token: d.metadata.name.endsWith('-autoscaler') });
    }
  });

  test('Redis requires a password by default: a generated Secret, never in values or REDIS_URL; existingSecret replaces it', () => {
    const objs = render();
    const secret = one(objs, 'Secret', '-redis-auth') as K8sObject & { data: Record<string, string> };
    expect(Buffer.from(secret.data.password!, 'base64').toString()).toMatch(/^[A-Za-z0-9]{40}$/);
    const sts = one(objs, 'StatefulSet') as Deployment;
    const args = (sts.spec.template.spec.containers[0] as Container & { args: string[] }).args;
    expect(args).toContain('--requirepass');
    for (const d of find(objs, 'Deployment') as Deployment[]) {
      const c = d.spec.template.spec.containers[0]!;
      const e = c.env!.find((x) => x.name === 'REDIS_PASSWORD');
      expect({ d: d.metadata.name, ref: e?.valueFrom?.secretKeyRef }).toEqual({ d: d.metadata.name, ref: { name: secret.metadata.name, key: 'password' } });
      expect(env(c).REDIS_URL).toMatch(/^redis:\/\/[^@]+$/);
    }
    const mine = render({ set: ['redis.auth.existingSecret=my-redis'] });
    expect(find(mine, 'Secret', '-redis-auth')).toHaveLength(0);
    expect(JSON.stringify(one(mine, 'StatefulSet'))).toContain('"name":"my-redis"');
  });
});

describe('the Redis NetworkPolicy', () => {
  test('admits the release\'s pods and the pods of an external pool (its podLabels); KEDA\'s operator when some pool is keda-redis', () => {
    const np = (objs: K8sObject[]) => (one(objs, 'NetworkPolicy') as K8sObject & { spec: { ingress: Array<{ from: Array<Record<string, unknown>> }> } }).spec.ingress[0]!.from;
    const from = np(render({ valuesFiles: [EXAMPLE], release: 'shop' }));
    expect(from).toContainEqual({ podSelector: { matchLabels: { app: 'billing-api' } } });
    expect(from.some((f) => 'namespaceSelector' in f)).toBe(false);
    expect(np(render({ set: ['workers.a.autoscaling.mode=keda-redis', 'workers.b.group=g2'] })).some((f) => 'namespaceSelector' in f)).toBe(true);
  });
});

describe('per-pool metrics and the dashboard', () => {
  test('the ServiceMonitor labels a pool\'s series `pool`; the dashboard has a `pool` variable filtering the worker and autoscaler panels', () => {
    const objs = render({ valuesFiles: [EXAMPLE], release: 'shop', set: ['monitoring.enabled=true'] });
    const sm = one(objs, 'ServiceMonitor') as K8sObject & { spec: { endpoints: Array<{ relabelings?: Array<Record<string, unknown>> }> } };
    expect(sm.spec.endpoints[0]!.relabelings).toContainEqual(expect.objectContaining({ sourceLabels: ['__meta_kubernetes_service_label_stream_workers_io_pool'], targetLabel: 'pool' }));
    const cm = one(render({ valuesFiles: [EXAMPLE], release: 'shop' }), 'ConfigMap', '-dashboard') as K8sObject & { data: Record<string, string> };
    const dash = JSON.parse(cm.data['stream-workers.json']!) as { templating: { list: Array<{ name: string; definition?: string }> }; panels: Array<{ targets?: Array<{ expr: string }> }> };
    expect(dash.templating.list.find((v) => v.name === 'pool')?.definition).toMatch(/label_values\(.*, pool\)/);
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const perPool = exprs.filter((e) => /stream_workers_(events_processed_total|event_processing_seconds_bucket|inflight_events|autoscaler_(desired|current)_replicas)\{/.test(e));
    expect(perPool.length).toBeGreaterThanOrEqual(6);
    expect(perPool.filter((e) => !e.includes('pool=~"$pool"'))).toEqual([]);
  });
});
