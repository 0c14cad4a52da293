/**
 * helm lint + helm template for every ci/*-values.yaml, every rendered object validated against its
 * schema, and the chart's promises checked on the rendered YAML: Pod Security "restricted", replicas
 * left to the autoscaler, least-privilege RBAC, a schema that rejects typos, Redis durability and
 * isolation, KEDA triggers, monitoring objects.
 */
import { ciValuesFiles, CI_DIR, find, helm, one, render, templateArgs, type K8sObject } from './support/helm';
import { schemaProblems } from './support/validate';
import { podSpecOf, restrictedViolations, type PodSpec } from './support/pss';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { producerConfig } from '../../services/producer/src/config';
import { workerConfig } from '../../services/worker/src/config';
import { lagExporterConfig } from '../../services/lag-exporter/src/config';
import { autoscalerConfig } from '../../services/autoscaler/src/config';
import { parsePools } from '../../services/autoscaler/src/pools-config';
import { containerEnv, StandInFiles, type EnvVar, type PodFiles } from './support/container-env';

interface ContainerSpec {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  readinessProbe?: { httpGet?: { port: string | number; path: string } };
  livenessProbe?: { httpGet?: { port: string | number; path: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
}
interface Workload extends K8sObject {
  spec: { replicas?: number; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec & { containers: ContainerSpec[]; terminationGracePeriodSeconds?: number; serviceAccountName?: string; topologySpreadConstraints?: unknown[] } } };
}

const CI = ciValuesFiles();
const rendered = new Map<string, K8sObject[]>();
function renderCi(file: string): K8sObject[] {
  let objs = rendered.get(file);
  if (!objs) {
    objs = render({ valuesFiles: [join(CI_DIR, file)] });
    rendered.set(file, objs);
  }
  return objs;
}
const modeOf = (file: string): string => {
  const so = renderCi(file).find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-worker'));
  return so?.metadata.annotations?.['stream-workers.io/autoscaling-mode'] ?? '?';
};
const workloads = (objs: K8sObject[]): Workload[] => objs.filter((o) => podSpecOf(o) !== undefined) as Workload[];
const envOf = (c: ContainerSpec): Map<string, EnvVar> => new Map((c.env ?? []).map((e) => [e.name, e]));

test('there is a ci values file for every autoscaling mode and the main variants', () => {
  for (const f of ['builtin', 'keda-redis', 'keda-metrics-api', 'keda-prometheus', 'keda-external', 'none', 'external-redis', 'external-redis-sentinel', 'external-redis-cluster', 'redis-auth', 'monitoring-operator', 'local-cluster']) {
    expect(CI).toContain(`${f}-values.yaml`);
  }
});

describe.each(CI)('%s', (file) => {
  test('helm lint --strict passes', () => {
    const r = helm(['lint', '--strict', 'charts/stream-workers', '--values', join(CI_DIR, file)]);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.status).toBe(0);
  });

  test('helm template renders objects that all validate against their schemas (kubernetes-models, @kubernetes-models/keda, @kubernetes-models/prometheus-operator; no unknown fields)', () => {
    const objs = renderCi(file);
    expect(objs.length).toBeGreaterThan(8);
    const problems = objs.flatMap(schemaProblems);
    expect(problems).toEqual([]);
    // Names are unique per kind and every object is namespaced to the release.
    const keys = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('every pod meets Pod Security "restricted", has a read-only root filesystem and resource requests and limits', () => {
    const objs = workloads(renderCi(file));
    expect(objs.length).toBeGreaterThanOrEqual(3);
    for (const w of objs) {
      const pod = w.spec.template.spec;
      expect({ workload: w.metadata.name, violations: restrictedViolations(pod) }).toEqual({ workload: w.metadata.name, violations: [] });
      for (const c of pod.containers) {
        expect({ c: c.name, ro: c.securityContext?.readOnlyRootFilesystem }).toEqual({ c: c.name, ro: true });
        expect(Object.keys(c.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
        expect(Object.keys(c.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
      }
    }
  });

  test('the worker Deployment has replicas only when no autoscaler owns it', () => {
    const objs = renderCi(file);
    const worker = one(objs, 'Deployment', '-worker') as Workload;
    const mode = modeOf(file);
    // Its owners: a ScaledObject targeting it, or the autoscaler serving it (POOLS names it).
    const scaledObjects = find(objs, 'ScaledObject').filter((so) => (so as K8sObject & { spec: { scaleTargetRef: { name: string } } }).spec.scaleTargetRef.name === worker.metadata.name);
    const autoscaler = find(objs, 'Deployment', '-autoscaler')[0] as Workload | undefined;
    const builtin = autoscaler ? (JSON.parse(envOf(autoscaler.spec.template.spec.containers[0]!).get('POOLS')!.value!) as Array<{ deployment: string }>).some((p) => p.deployment === worker.metadata.name) : false;
    if (mode === 'none') {
      expect(worker.spec.replicas).toEqual(expect.any(Number));
      expect(scaledObjects).toHaveLength(0);
      expect(builtin).toBe(false);
    } else {
      expect('replicas' in worker.spec).toBe(false);
      expect(scaledObjects.length + (builtin ? 1 : 0)).toBe(1);
    }
  });

  test('workers: CONSUMER from the pod name, grace above SHUTDOWN_GRACE_MS, probes on the ops port, PDB and topology spread', () => {
    const objs = renderCi(file);
    const worker = one(objs, 'Deployment', '-worker') as Workload;
    const pod = worker.spec.template.spec;
    const c = pod.containers[0]!;
    expect(c.args).toEqual(['services/worker/dist/main.js']);
    const env = envOf(c);
    expect(env.get('CONSUMER')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env.get('PORT')?.value).toBe('8081');
    const graceMs = Number(env.get('SHUTDOWN_GRACE_MS')?.value);
    expect(graceMs).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(graceMs);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8081, protocol: 'TCP' }]);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    const pdb = find(objs, 'PodDisruptionBudget').find((o) => o.metadata.name === worker.metadata.name) as K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } };
    for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) expect(worker.spec.template.metadata.labels[k]).toBe(v);
    expect(pod.topologySpreadConstraints?.length).toBeGreaterThan(0);
  });

  test('services use the contract: one image, `node services/<name>/dist/main.js`, their default ports, one Redis topology, never a literal password', () => {
    const objs = renderCi(file);
    const ports: Record<string, number> = { producer: 8080, worker: 8081, 'lag-exporter': 8082, autoscaler: 8083 };
    const images = new Set<string>();
    for (const w of workloads(objs)) {
      const labels = w.spec.template.metadata.labels;
      const component = labels['stream-workers.io/pool'] ? 'worker' : labels['app.kubernetes.io/component']!;
      if (component === 'redis') continue;
      const c = w.spec.template.spec.containers[0]!;
      images.add((c as unknown as { image: string }).image);
      expect(c.args).toEqual([`services/${component}/dist/main.js`]);
      const env = envOf(c);
      expect(env.get('PORT')?.value).toBe(String(ports[component]));
      // Exactly one topology variable (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES).
      expect(['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'].filter((n) => env.has(n))).toHaveLength(1);
      const url = env.get('REDIS_URL');
      if (url?.value !== undefined) expect(url.value).toMatch(/^rediss?:\/\/(:\$\(REDIS_PASSWORD\)@|[^:@/]+:\$\(REDIS_PASSWORD\)@|[^@]+$)/);
      else if (url) expect(url.valueFrom?.secretKeyRef).toBeDefined();
      // Passwords come from Secrets (a variable or a mounted file), never from a literal value.
      for (const name of ['REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD']) if (env.has(name)) expect({ name, from: env.get(name)!.valueFrom?.secretKeyRef !== undefined }).toEqual({ name, from: true });
    }
    expect(images.size).toBe(1);
    // No credential comes from values: the chart generates only random ones, kept across upgrades: the
    // Redis password (in-chart Redis with auth and no existingSecret), the producer's API token
    // (producer.auth.mode=token without existingSecret) and the ACL users.
    expect(find(objs, 'Secret').map((o) => o.metadata.name).filter((n) => !/-(redis-auth|producer-tokens|redis-acl)$/.test(n))).toEqual([]);
  });
});

describe('builtin autoscaler', () => {
  const objs = () => renderCi('builtin-values.yaml');

  test('the Role grants exactly the verbs the autoscaler uses, with no wildcards', () => {
    const role = one(objs(), 'Role') as K8sObject & { rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }> };
    const text = JSON.stringify(role.rules);
    expect(text).not.toContain('*');
    const grants = role.rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups.join(',')}/${res}:${v}`))).sort();
    expect(grants).toEqual([
      '/pods:list',
      'apps/deployments/scale:get',
      'apps/deployments/scale:patch',
      'apps/deployments:get',
      'coordination.k8s.io/leases:create',
      'coordination.k8s.io/leases:get',
      'coordination.k8s.io/leases:update',
    ]);
    // The Deployment rules name the worker Deployment only.
    const worker = one(objs(), 'Deployment', '-worker');
    for (const r of role.rules.filter((x) => x.apiGroups.includes('apps'))) expect(r.resourceNames).toEqual([worker.metadata.name]);
    // The Lease is named too, except for create (which RBAC cannot limit by name).
    const dep = one(objs(), 'Deployment', '-autoscaler') as Workload;
    const lease = envOf(dep.spec.template.spec.containers[0]!).get('LEASE_NAME')?.value;
    expect(role.rules.filter((x) => x.resources.includes('leases') && !x.verbs.includes('create'))).toEqual([expect.objectContaining({ resourceNames: [lease], verbs: ['get', 'update'] })]);
  });

  test('the autoscaler runs under the bound ServiceAccount with the contract environment', () => {
    const o = objs();
    const dep = one(o, 'Deployment', '-autoscaler') as Workload;
    const binding = one(o, 'RoleBinding') as K8sObject & { subjects: Array<{ kind: string; name: string }>; roleRef: { name: string } };
    expect(binding.subjects).toEqual([expect.objectContaining({ kind: 'ServiceAccount', name: dep.spec.template.spec.serviceAccountName })]);
    expect(binding.roleRef.name).toBe(one(o, 'Role').metadata.name);
    const env = envOf(dep.spec.template.spec.containers[0]!);
    for (const name of ['POOLS', 'NAMESPACE', 'LEASE_NAME']) expect({ name, set: env.has(name) }).toEqual({ name, set: true });
    const pools = parsePools(env.get('POOLS')!.value!);
    expect(pools.map((p) => [p.name, p.stream, p.group, p.deployment])).toEqual([['worker', 'events', 'workers', one(o, 'Deployment', '-worker').metadata.name]]);
    expect(env.get('NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    // The pool's podSelector selects exactly the worker pods.
    const workerLabels = (one(o, 'Deployment', '-worker') as Workload).spec.template.metadata.labels;
    for (const pair of pools[0]!.podSelector!.split(',')) {
      const [k, v] = pair.split('=');
      expect(workerLabels[k!]).toBe(v);
    }
    // Only the autoscaler's pod gets an API token.
    for (const w of workloads(o)) {
      const automount = (w.spec.template.spec as { automountServiceAccountToken?: boolean }).automountServiceAccountToken;
      expect({ w: w.metadata.name, automount }).toEqual({ w: w.metadata.name, automount: w === dep });
    }
  });
});

describe('KEDA modes', () => {
  type Trigger = { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } };
  const trigger = (file: string): Trigger => {
    const so = one(renderCi(file), 'ScaledObject') as K8sObject & { spec: { triggers: Trigger[]; scaleTargetRef: { name: string } } };
    expect(so.spec.scaleTargetRef.name).toBe(one(renderCi(file), 'Deployment', '-worker').metadata.name);
    expect(so.spec.triggers).toHaveLength(1);
    return so.spec.triggers[0]!;
  };

  test('keda-redis: redis-streams trigger in lag mode with activation and a TriggerAuthentication for the password', () => {
    const t = trigger('keda-redis-values.yaml');
    expect(t.type).toBe('redis-streams');
    expect(t.metadata).toMatchObject({ stream: 'events', consumerGroup: 'workers', lagCount: '200', activationLagCount: '10' });
    expect(t.metadata).not.toHaveProperty('pendingEntriesCount');
    const ta = one(renderCi('keda-redis-values.yaml'), 'TriggerAuthentication') as K8sObject & { spec: { secretTargetRef: Array<{ parameter: string; name: string; key: string }> } };
    expect(t.authenticationRef?.name).toBe(ta.metadata.name);
    expect(ta.spec.secretTargetRef).toEqual([{ parameter: 'password', name: 'stream-workers-redis', key: 'password' }]);
    // KEDA's operator must reach Redis through the NetworkPolicy.
    const np = one(renderCi('keda-redis-values.yaml'), 'NetworkPolicy') as K8sObject & { spec: { ingress: Array<{ from: unknown[] }> } };
    expect(JSON.stringify(np.spec.ingress)).toContain('keda-operator');
  });

  test('keda-metrics-api: the exporter JSON endpoint with valueLocation outstanding', () => {
    const t = trigger('keda-metrics-api-values.yaml');
    const exporterSvc = one(renderCi('keda-metrics-api-values.yaml'), 'Service', '-lag-exporter');
    expect(t.type).toBe('metrics-api');
    expect(t.metadata.url).toBe(`http://${exporterSvc.metadata.name}.stream-workers.svc.cluster.local:8082/api/v1/backlog?stream=events&group=workers`);
    expect(t.metadata.valueLocation).toBe('outstanding');
  });

  test('keda-external: external-push on the exporter gRPC service, rate metric; the exporter serves GRPC_PORT', () => {
    const objs = renderCi('keda-external-values.yaml');
    const t = trigger('keda-external-values.yaml');
    const svc = one(objs, 'Service', '-lag-exporter') as K8sObject & { spec: { ports: Array<{ name: string; port: number }> } };
    expect(t.type).toBe('external-push');
    expect(t.metadata).toEqual({
      scalerAddress: `${svc.metadata.name}.stream-workers.svc.cluster.local:9095`,
      stream: 'events',
      group: 'workers',
      metric: 'rate',
      targetValue: '150',
      drainSeconds: '30',
      activationValue: '0',
    });
    expect(svc.spec.ports.map((p) => p.name)).toEqual(['http', 'grpc']);
    const exporter = one(objs, 'Deployment', '-lag-exporter') as Workload;
    expect(envOf(exporter.spec.template.spec.containers[0]!).get('GRPC_PORT')?.value).toBe('9095');
    const lagMode = one(render({ set: ['autoscaling.mode=keda-external', 'autoscaling.kedaExternal.push=false'] }), 'ScaledObject') as K8sObject & { spec: { triggers: Trigger[] } };
    expect(lagMode.spec.triggers[0]).toMatchObject({ type: 'external', metadata: { metric: 'outstanding', targetValue: '100' } });
  });

  test('builtin: the scaling mode, drain, lag objective, rate window and activation watch from values, in each pool of POOLS', () => {
    const a = one(render({ set: ['autoscaling.scalingMode=rate', 'autoscaling.targetLagSeconds=5'] }), 'Deployment', '-autoscaler') as Workload;
    const env = envOf(a.spec.template.spec.containers[0]!);
    const [pool] = JSON.parse(env.get('POOLS')!.value!) as Array<Record<string, unknown>>;
    expect([pool!.scalingMode, pool!.targetDrainS, pool!.targetLagSeconds, pool!.rateWindowS, pool!.activationWatch]).toEqual(['rate', 30, 5, 5, true]);
  });

  test('keda-prometheus: a PromQL query on group_outstanding', () => {
    const t = trigger('keda-prometheus-values.yaml');
    expect(t.type).toBe('prometheus');
    expect(t.metadata.query).toBe('max(stream_workers_group_outstanding{namespace="stream-workers",stream="events",group="workers"})');
    expect(t.metadata.serverAddress).toMatch(/^http/);
  });

  test('polling, cooldown, min/max, idle replicas and HPA behaviour come from values', () => {
    const so = one(render({ set: ['autoscaling.mode=keda-metrics-api', 'autoscaling.pollingIntervalSeconds=7', 'autoscaling.cooldownPeriodSeconds=90', 'autoscaling.minReplicas=1', 'autoscaling.maxReplicas=9', 'autoscaling.idleReplicaCount=0', 'autoscaling.scaleDownWindowSeconds=120'] }), 'ScaledObject') as K8sObject & { spec: Record<string, unknown> };
    expect(so.spec).toMatchObject({ pollingInterval: 7, cooldownPeriod: 90, minReplicaCount: 1, maxReplicaCount: 9, idleReplicaCount: 0, advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: 120 } } } } });
  });
});

describe('Redis', () => {
  test('StatefulSet with the official redis:7 image, AOF everysec, noeviction, a PVC and probes; NetworkPolicy admits only the release', () => {
    const objs = renderCi('builtin-values.yaml');
    const sts = one(objs, 'StatefulSet') as Workload & { spec: { volumeClaimTemplates: unknown[] } };
    const c = sts.spec.template.spec.containers[0] as ContainerSpec & { image: string; readinessProbe?: unknown; livenessProbe?: unknown };
    // The official image pinned by digest (the tag names the release it is).
    expect(c.image).toMatch(/^redis@sha256:[a-f0-9]{64}$/);
    expect(c.readinessProbe).toBeDefined();
    expect(c.livenessProbe).toBeDefined();
    expect(sts.spec.volumeClaimTemplates).toHaveLength(1);
    const conf = (one(objs, 'ConfigMap', '-redis') as K8sObject & { data: Record<string, string> }).data['redis.conf']!;
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^appendfsync everysec$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    const np = one(objs, 'NetworkPolicy') as K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: Array<{ from: Array<{ podSelector?: { matchLabels: Record<string, string> }; namespaceSelector?: unknown }> }> } };
    expect(np.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('redis');
    expect(np.spec.ingress).toHaveLength(1);
    expect(np.spec.ingress[0]!.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'stream-workers', 'app.kubernetes.io/instance': 'sw' } } }]);
    // Every pod of the release carries those labels.
    for (const w of workloads(objs)) expect(w.spec.template.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'stream-workers', 'app.kubernetes.io/instance': 'sw' });
  });

  test('auth: the password comes from the Secret (Redis, probes and REDIS_URL), ACL mode mounts the ACL file', () => {
    const objs = renderCi('redis-auth-values.yaml');
    const sts = one(objs, 'StatefulSet') as Workload;
    const redisEnv = envOf(sts.spec.template.spec.containers[0]!);
    expect(redisEnv.get('REDISCLI_AUTH')?.valueFrom?.secretKeyRef).toEqual({ name: 'stream-workers-redis', key: 'password' });
    expect(JSON.stringify(sts.spec.template.spec.volumes)).toContain('users.acl');
    const conf = (one(objs, 'ConfigMap', '-redis') as K8sObject & { data: Record<string, string> }).data['redis.conf']!;
    expect(conf).toContain('aclfile /etc/redis-acl/users.acl');
    const worker = one(objs, 'Deployment', '-worker') as Workload;
    const env = envOf(worker.spec.template.spec.containers[0]!);
    expect(env.get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'stream-workers-redis', key: 'password' });
    expect(env.get('REDIS_USERNAME')?.value).toBe('app');
    // No password in the URL: the services apply REDIS_USERNAME / REDIS_PASSWORD in memory.
    expect(env.get('REDIS_URL')?.value).toBe('redis://sw-stream-workers-redis.stream-workers.svc:6379');
    // The user's Secret is used: the chart generates no Redis password (the producer's token is another matter).
    expect(find(objs, 'Secret').filter((o) => /-redis(-auth)?$/.test(o.metadata.name))).toHaveLength(0);
  });

  test('redis.enabled=false: no Redis objects, REDIS_URL from the external Secret', () => {
    const objs = renderCi('external-redis-values.yaml');
    expect(find(objs, 'StatefulSet')).toHaveLength(0);
    expect(find(objs, 'NetworkPolicy')).toHaveLength(0);
    const env = envOf((one(objs, 'Deployment', '-worker') as Workload).spec.template.spec.containers[0]!);
    expect(env.get('REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'managed-redis', key: 'redis-url' });
  });
});

describe('values are checked', () => {
  const typos: Array<[string, string[], RegExp]> = [
    ['a misspelt nested key', ['--set', 'worker.batchSzie=10'], /additional properties 'batchSzie' not allowed/],
    ['a misspelt top-level key', ['--set', 'autoscalling.mode=none'], /additional properties 'autoscalling' not allowed/],
    ['an unknown autoscaling mode', ['--set', 'autoscaling.mode=keda'], /\/autoscaling\/mode.*one of 'builtin', 'keda-redis', 'keda-metrics-api', 'keda-prometheus', 'keda-external', 'none'/s],
    ['a string where a number is expected', ['--set-string', 'autoscaling.maxReplicas=ten'], /\/autoscaling\/maxReplicas.*(integer|number)/s],
    ['an ACL file without a Secret', ['--set', 'redis.auth.aclFileKey=users.acl'], /aclFileKey needs redis.auth.existingSecret/],
    ['a password in an external URL', ['--set', 'redis.enabled=false', '--set', 'externalRedis.url=redis://:hunter2@db:6379'], /\/externalRedis\/url/],
    ['an external Redis without a URL', ['--set', 'redis.enabled=false'], /externalRedis/],
  ];
  test.each(typos)('helm template rejects %s, naming it', (_what, args, message) => {
    const r = helm([...templateArgs(), ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  test('helm install (client dry run) and helm lint reject a typo in a values file, naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-values-'));
    try {
      const file = join(dir, 'typo.yaml');
      writeFileSync(file, 'redis:\n  persistence:\n    sise: 1Gi\n');
      const install = helm(['install', 'sw', 'charts/stream-workers', '--dry-run=client', '--values', file]);
      expect(install.status).not.toBe(0);
      expect(install.stderr).toMatch(/at '\/redis\/persistence': additional properties 'sise' not allowed/);
      const lint = helm(['lint', 'charts/stream-workers', '--values', file]);
      expect(lint.status).not.toBe(0);
      expect(lint.stdout + lint.stderr).toContain("additional properties 'sise' not allowed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('monitoring', () => {
  test('with the Prometheus Operator: ServiceMonitor covering every component and a PrometheusRule; no scrape annotations', () => {
    const objs = renderCi('monitoring-operator-values.yaml');
    const sm = one(objs, 'ServiceMonitor') as K8sObject & { spec: { jobLabel: string; selector: { matchLabels: Record<string, string> } } };
    expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    one(objs, 'PrometheusRule');
    // Every Service exposing a service's metrics port is selected by the ServiceMonitor.
    const selected = find(objs, 'Service').filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
    const components = selected.map((s) => s.metadata.labels!['app.kubernetes.io/component']).sort();
    expect(components).toEqual(expect.arrayContaining(['lag-exporter', 'producer', 'worker', 'autoscaler']));
    for (const w of workloads(objs)) expect(w.spec.template.metadata.annotations ?? {}).not.toHaveProperty(['prometheus.io/scrape']);
  });

  test('without it: prometheus.io annotations on every service pod, no operator objects', () => {
    const objs = renderCi('builtin-values.yaml');
    expect(find(objs, 'ServiceMonitor')).toHaveLength(0);
    expect(find(objs, 'PrometheusRule')).toHaveLength(0);
    for (const w of workloads(objs).filter((x) => !x.metadata.name.endsWith('-redis'))) {
      expect(w.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/path': '/metrics' });
    }
  });

  test('the dashboard ConfigMap has the sidecar label and panels for backlog, age, pending, throughput, dead letters and replicas', () => {
    const cm = one(renderCi('builtin-values.yaml'), 'ConfigMap', '-dashboard') as K8sObject & { data: Record<string, string> };
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data['stream-workers.json']!) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const m of ['group_outstanding', 'group_lag_seconds', 'group_oldest_pending_seconds', 'events_processed_total', ':dlq', 'autoscaler_desired_replicas', 'autoscaler_current_replicas']) expect(exprs).toContain(m);
    const titles = dash.panels.map((p) => p.title).join(' | ');
    expect(titles).toMatch(/Throughput by outcome/);
    expect(titles).toMatch(/Dead letters/);
    expect(titles).toMatch(/desired vs current/);
  });
});

describe('the validators themselves catch what they should', () => {
  const base = (): K8sObject => render({ extraArgs: ['--show-only', 'templates/worker.yaml'] }).find((o) => o.kind === 'Deployment')!;

  test('a misspelt field in a built-in kind, a wrong type, and an unknown CRD field are reported', () => {
    const good = base();
    expect(schemaProblems(good)).toEqual([]);
    const typo = structuredClone(good) as Workload;
    (typo.spec.template.spec.containers[0] as unknown as Record<string, unknown>).imagee = 'x';
    expect(schemaProblems(typo)).toEqual([expect.stringContaining('unknown field spec.template.spec.containers[0].imagee')]);
    const wrongType = structuredClone(good) as Workload;
    (wrongType.spec as unknown as Record<string, unknown>).replicas = 'three';
    expect(schemaProblems(wrongType).join()).toMatch(/replicas must be integer/);
    const so = one(renderCi('keda-redis-values.yaml'), 'ScaledObject') as K8sObject & { spec: Record<string, unknown> };
    expect(schemaProblems({ ...so, spec: { ...so.spec, pollingIntervall: 5 } })).toEqual([expect.stringContaining('unknown field spec.pollingIntervall')]);
    expect(schemaProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).toEqual([expect.stringContaining('no schema model')]);
  });

  test('the Pod Security check reports privileged, root, missing seccomp and hostPath', () => {
    const pod = structuredClone((base() as Workload).spec.template.spec);
    expect(restrictedViolations(pod)).toEqual([]);
    const c = pod.containers[0] as unknown as { securityContext: Record<string, unknown> };
    c.securityContext = { privileged: true, runAsUser: 0 };
    pod.securityContext = {};
    pod.volumes = [{ name: 'h', hostPath: { path: '/' } }];
    const v = restrictedViolations(pod).join('\n');
    for (const m of ['privileged', 'allowPrivilegeEscalation', 'runAsNonRoot', 'runAsUser 0', 'seccompProfile', 'drop ALL', 'hostPath']) expect(v).toContain(m);
  });
});

describe('the environment the chart renders is one every service accepts', () => {
  type Def = { specs: Record<string, { name: string; parse(raw: string | undefined, env: Record<string, string | undefined>): unknown }>; parse(env: Record<string, string | undefined>): Record<string, unknown> };
  const CONFIGS: Record<string, Def> = {
    producer: producerConfig as unknown as Def,
    worker: workerConfig as unknown as Def,
    'lag-exporter': lagExporterConfig as unknown as Def,
    autoscaler: autoscalerConfig as unknown as Def,
  };
  // Secret files the containers mount (passwords, TLS PEM) as real files with stand-in content.
  const files = new StandInFiles();
  afterAll(() => files.remove());
  const services = (objs: K8sObject[]) =>
    workloads(objs)
      .map((w) => {
        const labels = w.spec.template.metadata.labels;
        return { component: labels['stream-workers.io/pool'] ? 'worker' : labels['app.kubernetes.io/component']!, env: containerEnv(w.spec.template.spec as unknown as PodFiles, files) };
      })
      .filter((s) => s.component in CONFIGS);

  // Values ≥ 1e6 once rendered as "1e+06" (Helm's float formatting) and stopped the producer at start-up.
  const LARGE = ['producer.maxlen=5000000', 'producer.maxBatchBytes=16777216', 'worker.claimIdleMs=3600000', 'worker.shutdownGraceMs=1200000', 'autoscaling.targetPerReplica=2000000', 'autoscaling.cooldownPeriodSeconds=86400', 'lagExporter.discoveryIntervalMs=3600000', 'autoscaling.builtin.janitorIntervalMs=3600000'];
  const cases: Array<[string, () => K8sObject[]]> = [
    ...CI.map((f): [string, () => K8sObject[]] => [f, () => renderCi(f)]),
    ['large numbers', () => render({ set: LARGE })],
  ];

  test.each(cases)('%s: every service container passes its own configuration parser (what main.ts runs first)', (_name, objs) => {
    const found = services(objs());
    expect(found.length).toBeGreaterThanOrEqual(3);
    for (const s of found) {
      let problem = '';
      try {
        CONFIGS[s.component]!.parse(s.env);
      } catch (err) {
        problem = (err as Error).message;
      }
      expect({ component: s.component, problem }).toEqual({ component: s.component, problem: '' });
    }
  });

  test('large numbers arrive as the numbers given', () => {
    const byComponent = new Map(services(render({ set: LARGE })).map((s) => [s.component, s.env]));
    expect(byComponent.get('producer')).toMatchObject({ MAXLEN: '5000000', MAX_BATCH_BYTES: '16777216' });
    expect(byComponent.get('worker')).toMatchObject({ CLAIM_IDLE_MS: '3600000', SHUTDOWN_GRACE_MS: '1200000' });
    expect(byComponent.get('autoscaler')).toMatchObject({ JANITOR_INTERVAL_MS: '3600000' });
    expect(parsePools(byComponent.get('autoscaler')!.POOLS!)[0]).toMatchObject({ targetPerReplica: 2000000, cooldownS: 86400 });
    expect(byComponent.get('lag-exporter')).toMatchObject({ DISCOVERY_INTERVAL_MS: '3600000' });
    const so = one(render({ set: ['autoscaling.mode=keda-redis', 'autoscaling.targetPerReplica=2000000'] }), 'ScaledObject') as K8sObject & { spec: { triggers: Array<{ metadata: Record<string, string> }> } };
    expect(so.spec.triggers[0]!.metadata.lagCount).toBe('2000000');
  });

  test('every variable of every service is set from a value (the optional ones when their value is given), and the chart defaults are the services\' defaults', () => {
    // Not for a cluster: KUBECONFIG (the service account is used), WORKER_SCRIPT, JANITOR_IDLE_MS and
    // WORKER_REDIS_USERNAME / WORKER_REDIS_PASSWORD_FILE (TARGET_KIND=local).
    const notInCluster = new Set(['KUBECONFIG', 'WORKER_SCRIPT', 'JANITOR_IDLE_MS', 'WORKER_REDIS_USERNAME', 'WORKER_REDIS_PASSWORD_FILE']);
    // The autoscaler serves its pools through POOLS, which replaces the single-target variables.
    const replacedByPools = new Set(['STREAM', 'GROUP', 'TARGET_KIND', 'TARGET_NAME', 'TARGET_PER_REPLICA', 'ACTIVATION', 'MIN_REPLICAS', 'MAX_REPLICAS', 'POLL_INTERVAL_MS', 'COOLDOWN_S', 'SCALE_DOWN_WINDOW_S', 'FALLBACK_REPLICAS', 'POD_SELECTOR',
      'SCALING_MODE', 'TARGET_DRAIN_S', 'TARGET_LAG_SECONDS', 'RATE_WINDOW_S', 'ACTIVATION_WATCH']);
    // The simulated handler's variables go only to workers without HANDLER.
    const withHandler = services(render({ set: ['worker.handler=/app/handler.js', 'lagExporter.groups={workers}', 'autoscaling.fallback.replicas=2', 'autoscaling.targetLagSeconds=5', 'worker.deadLetterStream=events:dead'] }));
    // The external Redis topologies (Sentinel with its credentials and mutual TLS; Cluster; one server with a user).
    const sentinel = services(renderCi('external-redis-sentinel-values.yaml'));
    const cluster = services(renderCi('external-redis-cluster-values.yaml'));
    const sentinelUser = services(render({ valuesFiles: [join(CI_DIR, 'external-redis-sentinel-values.yaml')], set: ['externalRedis.sentinel.username=sentinel-user', 'externalRedis.usernameKey=user'] }));
    const simulated = services(render({ set: ['worker.simulation.poisonType=poison', 'redis.acl.enabled=true'] }));
    // The producer's jwt variables go only to producers with producer.auth.mode=jwt (JWKS from a URL or a ConfigMap).
    const jwt = ['producer.auth.mode=jwt', 'producer.auth.jwt.issuer=https://kubernetes.default.svc'];
    const jwtUrl = services(render({ set: [...jwt, 'producer.auth.jwt.jwksUrl=https://kubernetes.default.svc/openid/v1/jwks'] }));
    const jwtFile = services(render({ set: [...jwt, 'producer.auth.jwt.jwksConfigMap=cluster-jwks'] }));
    for (const [component, def] of Object.entries(CONFIGS)) {
      const names = Object.values(def.specs).map((s) => s.name).filter((n) => !notInCluster.has(n) && !(component === 'autoscaler' && replacedByPools.has(n)));
      const set = new Set([...withHandler, ...simulated, ...jwtUrl, ...jwtFile, ...sentinel, ...cluster, ...sentinelUser].filter((s) => s.component === component).flatMap((s) => Object.keys(s.env)));
      expect({ component, unset: names.filter((n) => !set.has(n)) }).toEqual({ component, unset: [] });
    }
    // Defaults: what the chart renders parses to what the service would use without the variable,
    // except where the chart must know better (its own names, its Redis, its selector).
    // AUTH_MODE: the chart authenticates by default (token), a bare service does not (none). REDIS_PASSWORD:
    // the chart's Redis requires one by default (a bare service sends none).
    const ownNames = new Set(['REDIS_URL', 'REDIS_PASSWORD', 'TARGET_NAME', 'LEASE_NAME', 'POD_SELECTOR', 'CONSUMER', 'POD_NAME', 'NAMESPACE', 'POOLS', 'AUTH_MODE', 'API_TOKENS_FILE']);
    for (const s of services(render())) {
      const def = CONFIGS[s.component]!;
      const defaults = def.parse({});
      const chart = def.parse(s.env);
      for (const [key, spec] of Object.entries(def.specs)) {
        if (ownNames.has(spec.name) || !(spec.name in s.env)) continue;
        expect({ component: s.component, variable: spec.name, value: chart[key] }).toEqual({ component: s.component, variable: spec.name, value: defaults[key] });
      }
    }
    // The default pool's policy in POOLS is the autoscaler's own defaults.
    const auto = services(render()).find((s) => s.component === 'autoscaler')!;
    const d = autoscalerConfig.parse({});
    expect(parsePools(auto.env.POOLS!)[0]).toMatchObject({ stream: d.stream, group: d.group, targetPerReplica: d.targetPerReplica, activation: d.activation, minReplicas: d.minReplicas, maxReplicas: d.maxReplicas, pollIntervalMs: d.pollIntervalMs, cooldownS: d.cooldownS, scaleDownWindowS: d.scaleDownWindowS, fallbackReplicas: undefined });
  });
});
