/**
 * Issue 17, the chart: an external Redis as Sentinel, Cluster or one server, with credentials from a
 * Secret (the password as a mounted file) and TLS files, wired into every service container (producer,
 * every pool, lag exporter, autoscaler); the keda-redis triggers for each topology, per shard with
 * streamShards > 1; the bad combinations rejected by the schema or the templates, naming the value.
 * Real `helm template`; rendered objects checked against their schemas.
 */
import { join } from 'node:path';
import { CI_DIR, find, helm, render, templateArgs, type K8sObject } from './support/helm';
import { schemaProblems } from './support/validate';
import type { EnvVar } from './support/container-env';

interface Container {
  name: string;
  env?: EnvVar[];
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface Workload extends K8sObject {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> } }> } } };
}
interface Trigger {
  type: string;
  name?: string;
  metadata: Record<string, string>;
  authenticationRef?: { name: string };
}
interface ScaledObject extends K8sObject {
  spec: { scaleTargetRef: { name: string }; triggers: Trigger[]; advanced: { scalingModifiers?: Record<string, string> } };
}
interface TriggerAuthentication extends K8sObject {
  spec: { secretTargetRef: Array<{ parameter: string; name: string; key: string }> };
}

const SENTINEL = join(CI_DIR, 'external-redis-sentinel-values.yaml');
const CLUSTER = join(CI_DIR, 'external-redis-cluster-values.yaml');

/** Every service container of the release (not Redis): component (pool containers count as worker) and container. */
function serviceContainers(objs: K8sObject[]): Array<{ workload: string; component: string; pod: Workload['spec']['template']['spec']; env: Map<string, EnvVar> }> {
  return (find(objs, 'Deployment') as Workload[]).map((w) => {
    const labels = w.spec.template.metadata.labels;
    const c = w.spec.template.spec.containers[0]!;
    return { workload: w.metadata.name, component: labels['stream-workers.io/pool'] ? 'worker' : labels['app.kubernetes.io/component']!, pod: w.spec.template.spec, env: new Map((c.env ?? []).map((e) => [e.name, e])) };
  });
}

/** The mounts of a workload's first container, by volume name. */
const mountsOf = (pod: Workload['spec']['template']['spec']): Map<string, { mountPath: string; readOnly?: boolean }> => new Map((pod.containers[0]!.volumeMounts ?? []).map((m) => [m.name, m]));

describe('Sentinel with credentials and mutual TLS (ci/external-redis-sentinel-values.yaml)', () => {
  const objs = render({ valuesFiles: [SENTINEL] });
  const services = serviceContainers(objs);

  test('every service: producer, both pools, the lag exporter and the autoscaler', () => {
    expect(services.map((s) => s.component).sort()).toEqual(['autoscaler', 'lag-exporter', 'producer', 'worker', 'worker']);
    expect(find(objs, 'StatefulSet')).toHaveLength(0);
    expect(objs.flatMap(schemaProblems)).toEqual([]);
  });

  test.each(['producer', 'worker', 'lag-exporter', 'autoscaler'])('%s: sentinels, master, sentinel password from the Secret, the password as a file, TLS files; no REDIS_URL', (component) => {
    for (const s of services.filter((x) => x.component === component)) {
      const v = (n: string): string | undefined => s.env.get(n)?.value;
      expect(v('REDIS_SENTINELS')).toBe('redis-node-0.redis-headless.redis.svc.cluster.local:26379,redis-node-1.redis-headless.redis.svc.cluster.local:26379,redis-node-2.redis-headless.redis.svc.cluster.local:26379');
      expect(v('REDIS_SENTINEL_MASTER')).toBe('mymaster');
      expect(s.env.get('REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'redis-credentials', key: 'sentinel-password' });
      expect(s.env.has('REDIS_URL')).toBe(false);
      expect(s.env.has('REDIS_PASSWORD')).toBe(false);
      expect(v('REDIS_PASSWORD_FILE')).toBe('/etc/stream-workers/redis-auth/password');
      expect(v('REDIS_TLS')).toBe('true');
      expect(v('REDIS_TLS_CA_FILE')).toBe('/etc/stream-workers/redis-tls/ca.crt');
      expect(v('REDIS_TLS_CERT_FILE')).toBe('/etc/stream-workers/redis-tls/tls.crt');
      expect(v('REDIS_TLS_KEY_FILE')).toBe('/etc/stream-workers/redis-tls/tls.key');
      expect(v('REDIS_TLS_SERVERNAME')).toBe('redis.redis.svc.cluster.local');
      expect(v('STREAM_SHARDS')).toBe('3');
      // Mounted read-only as whole directories (no subPath: a rotated Secret reaches the pod).
      const mounts = mountsOf(s.pod);
      expect(mounts.get('redis-auth')).toEqual({ name: 'redis-auth', mountPath: '/etc/stream-workers/redis-auth', readOnly: true });
      expect(mounts.get('redis-tls')).toEqual({ name: 'redis-tls', mountPath: '/etc/stream-workers/redis-tls', readOnly: true });
      const volumes = new Map((s.pod.volumes ?? []).map((x) => [x.name, x.secret]));
      expect(volumes.get('redis-auth')).toMatchObject({ secretName: 'redis-credentials', items: [{ key: 'redis-password', path: 'password' }] });
      expect(volumes.get('redis-tls')).toMatchObject({ secretName: 'redis-client-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }, { key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] });
    }
  });

  test('the producer waits for a replica (PRODUCER_MIN_REPLICAS_ACK); pools leave DEAD_LETTER_STREAM to the worker (one per shard)', () => {
    expect(services.find((s) => s.component === 'producer')!.env.get('PRODUCER_MIN_REPLICAS_ACK')?.value).toBe('1');
    for (const s of services.filter((x) => x.component === 'worker')) expect(s.env.has('DEAD_LETTER_STREAM')).toBe(false);
  });

  test('keda-redis pool: one redis-sentinel-streams trigger per shard, summed by scalingModifiers; sentinelPassword and TLS files in the TriggerAuthentication', () => {
    const sos = find(objs, 'ScaledObject') as ScaledObject[];
    expect(sos.map((o) => o.spec.scaleTargetRef.name)).toEqual(['sw-stream-workers-audit']);
    const so = sos[0]!;
    expect(so.spec.triggers.map((t) => [t.type, t.name, t.metadata.stream])).toEqual([0, 1, 2].map((i) => ['redis-sentinel-streams', `shard${i}`, `events{${i}}`]));
    for (const t of so.spec.triggers) {
      expect(t.metadata).toMatchObject({ addresses: expect.stringContaining('redis-node-2.redis-headless.redis.svc.cluster.local:26379'), sentinelMaster: 'mymaster', consumerGroup: 'audit', lagCount: '100', enableTLS: 'true' });
      expect(t.authenticationRef).toEqual({ name: 'sw-stream-workers-audit-redis' });
    }
    expect(so.spec.advanced.scalingModifiers).toEqual({ formula: 'shard0 + shard1 + shard2', target: '100', activationTarget: '0', metricType: 'AverageValue' });
    const ta = find(objs, 'TriggerAuthentication') as TriggerAuthentication[];
    expect(ta).toHaveLength(1);
    expect(ta[0]!.spec.secretTargetRef).toEqual([
      { parameter: 'password', name: 'redis-credentials', key: 'redis-password' },
      { parameter: 'sentinelPassword', name: 'redis-credentials', key: 'sentinel-password' },
      { parameter: 'ca', name: 'redis-client-tls', key: 'ca.crt' },
      { parameter: 'cert', name: 'redis-client-tls', key: 'tls.crt' },
      { parameter: 'key', name: 'redis-client-tls', key: 'tls.key' },
    ]);
  });

  test('the sentinels\' own ACL user and Secret; ACL user of the data nodes from the Secret', () => {
    const o = render({ valuesFiles: [SENTINEL], set: ['externalRedis.sentinel.username=sentinel-user', 'externalRedis.sentinel.existingSecret=sentinel-auth', 'externalRedis.usernameKey=user'] });
    for (const s of serviceContainers(o)) {
      expect(s.env.get('REDIS_SENTINEL_USERNAME')?.value).toBe('sentinel-user');
      expect(s.env.get('REDIS_SENTINEL_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'sentinel-auth', key: 'sentinel-password' });
      expect(s.env.get('REDIS_USERNAME')?.valueFrom?.secretKeyRef).toEqual({ name: 'redis-credentials', key: 'user' });
    }
    const t = (find(o, 'ScaledObject')[0] as ScaledObject).spec.triggers[0]!;
    expect(t.metadata.sentinelUsername).toBe('sentinel-user');
    const refs = (find(o, 'TriggerAuthentication')[0] as TriggerAuthentication).spec.secretTargetRef;
    expect(refs).toContainEqual({ parameter: 'sentinelPassword', name: 'sentinel-auth', key: 'sentinel-password' });
    expect(refs).toContainEqual({ parameter: 'username', name: 'redis-credentials', key: 'user' });
  });
});

describe('Cluster with an ACL user and a private CA (ci/external-redis-cluster-values.yaml)', () => {
  const objs = render({ valuesFiles: [CLUSTER] });
  const services = serviceContainers(objs);

  test('every service gets REDIS_CLUSTER_NODES, the user, the password file and the CA only', () => {
    expect(services.map((s) => s.component).sort()).toEqual(['autoscaler', 'lag-exporter', 'producer', 'worker', 'worker']);
    expect(objs.flatMap(schemaProblems)).toEqual([]);
    for (const s of services) {
      const v = (n: string): string | undefined => s.env.get(n)?.value;
      expect(v('REDIS_CLUSTER_NODES')).toBe('redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379,redis-cluster-2.redis-cluster-headless:6379');
      expect(['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_SERVERNAME'].filter((n) => s.env.has(n))).toEqual([]);
      expect(v('REDIS_USERNAME')).toBe('stream-workers');
      expect(v('REDIS_PASSWORD_FILE')).toBe('/etc/stream-workers/redis-auth/password');
      expect(v('REDIS_TLS')).toBe('true');
      expect(v('REDIS_TLS_CA_FILE')).toBe('/etc/stream-workers/redis-tls/ca.crt');
      expect((s.pod.volumes ?? []).find((x) => x.name === 'redis-tls')?.secret).toMatchObject({ secretName: 'redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
      expect(mountsOf(s.pod).get('redis-tls')?.readOnly).toBe(true);
    }
  });

  test('keda-redis pool: a redis-cluster-streams trigger on the seed nodes with the user, TLS and the CA; the builtin pool goes to the autoscaler', () => {
    const so = find(objs, 'ScaledObject') as ScaledObject[];
    expect(so.map((o) => o.spec.scaleTargetRef.name)).toEqual(['sw-stream-workers-worker']);
    expect(so[0]!.spec.triggers).toEqual([{
      type: 'redis-cluster-streams',
      metadata: { addresses: 'redis-cluster-0.redis-cluster-headless:6379,redis-cluster-1.redis-cluster-headless:6379,redis-cluster-2.redis-cluster-headless:6379', username: 'stream-workers', stream: 'events', consumerGroup: 'workers', lagCount: '100', activationLagCount: '0', enableTLS: 'true' },
      authenticationRef: { name: 'sw-stream-workers-worker-redis' },
    }]);
    expect(so[0]!.spec.advanced.scalingModifiers).toBeUndefined();
    expect((find(objs, 'TriggerAuthentication')[0] as TriggerAuthentication).spec.secretTargetRef).toEqual([
      { parameter: 'password', name: 'redis-credentials', key: 'password' },
      { parameter: 'ca', name: 'redis-ca', key: 'ca.crt' },
    ]);
    const autoscaler = services.find((s) => s.component === 'autoscaler')!;
    expect((JSON.parse(autoscaler.env.get('POOLS')!.value!) as Array<{ deployment: string }>).map((p) => p.deployment)).toEqual(['sw-stream-workers-audit']);
  });
});

describe('one external server', () => {
  test('a plain URL with the password from a Secret (urlKey ""), TLS by REDIS_TLS with a public CA: no TLS volume', () => {
    const objs = render({ set: ['redis.enabled=false', 'externalRedis.url=redis://redis.example.internal:6380', 'externalRedis.existingSecret=creds', 'externalRedis.urlKey=', 'externalRedis.passwordKey=password', 'externalRedis.tls.enabled=true', 'autoscaling.mode=keda-redis', 'externalRedis.address=redis.example.internal:6380'] });
    for (const s of serviceContainers(objs)) {
      expect(s.env.get('REDIS_URL')?.value).toBe('redis://redis.example.internal:6380');
      expect(s.env.get('REDIS_TLS')?.value).toBe('true');
      expect(s.env.has('REDIS_TLS_CA_FILE')).toBe(false);
      expect([...mountsOf(s.pod).keys()].filter((m) => m.startsWith('redis-'))).toEqual(['redis-auth']);
    }
    const t = (find(objs, 'ScaledObject')[0] as ScaledObject).spec.triggers[0]!;
    expect(t).toMatchObject({ type: 'redis-streams', metadata: { address: 'redis.example.internal:6380', enableTLS: 'true' } });
  });

  test('earlier values keep rendering as before: the URL from the Secret, KEDA\'s password key (ci/external-redis-values.yaml)', () => {
    const objs = render({ valuesFiles: [join(CI_DIR, 'external-redis-values.yaml')] });
    for (const s of serviceContainers(objs)) expect(s.env.get('REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'managed-redis', key: 'redis-url' });
    const t = (find(objs, 'ScaledObject')[0] as ScaledObject).spec.triggers[0]!;
    expect(t).toMatchObject({ type: 'redis-streams', metadata: { address: 'redis.example.internal:6380', enableTLS: 'true' } });
  });
});

describe('streamShards with the in-chart Redis', () => {
  test('STREAM_SHARDS in every service; keda-redis: a trigger per shard key on the in-chart Redis, summed', () => {
    const objs = render({ set: ['streamShards=2', 'autoscaling.mode=keda-redis'] });
    for (const s of serviceContainers(objs)) expect({ w: s.workload, shards: s.env.get('STREAM_SHARDS')?.value }).toEqual({ w: s.workload, shards: '2' });
    const so = find(objs, 'ScaledObject')[0] as ScaledObject;
    expect(so.spec.triggers.map((t) => [t.type, t.name, t.metadata.stream, t.metadata.address])).toEqual([
      ['redis-streams', 'shard0', 'events{0}', 'sw-stream-workers-redis.stream-workers.svc:6379'],
      ['redis-streams', 'shard1', 'events{1}', 'sw-stream-workers-redis.stream-workers.svc:6379'],
    ]);
    expect(so.spec.advanced.scalingModifiers?.formula).toBe('shard0 + shard1');
    expect(objs.flatMap(schemaProblems)).toEqual([]);
  });

  test('keda-prometheus: the default query reads the exporter\'s total over the shards', () => {
    const so = find(render({ set: ['streamShards=2', 'autoscaling.mode=keda-prometheus', 'autoscaling.kedaPrometheus.serverAddress=http://prometheus:9090'] }), 'ScaledObject')[0] as ScaledObject;
    expect(so.spec.triggers[0]!.metadata.query).toBe('max(stream_workers_sharded_group_outstanding{namespace="stream-workers",stream="events",group="workers"})');
  });

  test('ACL users get the shard keys (S{*}) and their dead-letter streams', () => {
    const objs = render({ set: ['streamShards=4', 'redis.acl.enabled=true'] });
    const acl = Buffer.from((find(objs, 'Secret', '-redis-acl')[0] as K8sObject & { data: Record<string, string> }).data['users.acl']!, 'base64').toString('utf8');
    expect(acl).toMatch(/^user producer on #\w+ resetkeys ~events\{\*\} ~events\{\*\}:idem:\* /m);
    expect(acl).toMatch(/^user worker on #\w+ resetkeys ~events\{\*\} .*\(~events\{\*\}:dlq \+xadd\)$/m);
    expect(acl).toMatch(/^user autoscaler on #\w+ resetkeys ~events\{\*\} /m);
  });
});

describe('bad combinations are rejected, naming the value', () => {
  const sentinel = ['--set', 'redis.enabled=false', '--set', 'externalRedis.sentinel.hosts={s-0:26379,s-1:26379}'];
  const cases: Array<[string, string[], RegExp]> = [
    ['a sentinel without masterName', sentinel, /\/externalRedis\/sentinel\/masterName/],
    ['a URL and sentinels', [...sentinel, '--set', 'externalRedis.sentinel.masterName=m', '--set', 'externalRedis.url=redis://r:6379'], /\/externalRedis\/url/],
    ['sentinels and cluster nodes', [...sentinel, '--set', 'externalRedis.sentinel.masterName=m', '--set', 'externalRedis.cluster.nodes={c:6379}'], /\/externalRedis\/cluster\/nodes/],
    ['a URL and cluster nodes', ['--set', 'redis.enabled=false', '--set', 'externalRedis.cluster.nodes={c:6379}', '--set', 'externalRedis.url=redis://r:6379'], /\/externalRedis\/url/],
    ['a malformed host:port', ['--set', 'redis.enabled=false', '--set', 'externalRedis.cluster.nodes={c-6379}'], /\/externalRedis\/cluster\/nodes\/0/],
    ['sentinels with the in-chart Redis', ['--set', 'externalRedis.sentinel.hosts={s:26379}', '--set', 'externalRedis.sentinel.masterName=m'], /\/externalRedis\/sentinel\/hosts/],
    ['TLS with the in-chart Redis', ['--set', 'externalRedis.tls.enabled=true'], /\/externalRedis\/tls\/enabled/],
    ['a passwordKey without the Secret', [...sentinel, '--set', 'externalRedis.sentinel.masterName=m', '--set', 'externalRedis.passwordKey=password'], /\/externalRedis\/existingSecret/],
    ['a sentinel password without a Secret', [...sentinel, '--set', 'externalRedis.sentinel.masterName=m', '--set', 'externalRedis.sentinel.passwordKey=p'], /\/externalRedis\/(sentinel\/)?existingSecret/],
    ['a sentinel user without its password', [...sentinel, '--set', 'externalRedis.sentinel.masterName=m', '--set', 'externalRedis.sentinel.username=u'], /\/externalRedis\/sentinel\/passwordKey/],
    ['username and usernameKey', ['--set', 'redis.enabled=false', '--set', 'externalRedis.url=redis://r:6379', '--set', 'externalRedis.existingSecret=s', '--set', 'externalRedis.username=u', '--set', 'externalRedis.usernameKey=k'], /\/externalRedis\/usernameKey/],
    ['a client certificate without its key', ['--set', 'redis.enabled=false', '--set', 'externalRedis.url=rediss://r:6379', '--set', 'externalRedis.tls.enabled=true', '--set', 'externalRedis.tls.existingSecret=t', '--set', 'externalRedis.tls.keyKey='], /\/externalRedis\/tls\/keyKey/],
    ['TLS files with TLS off', ['--set', 'redis.enabled=false', '--set', 'externalRedis.url=redis://r:6379', '--set', 'externalRedis.tls.existingSecret=t'], /\/externalRedis\/tls\/enabled/],
    ['streamShards 0', ['--set', 'streamShards=0'], /\/streamShards/],
    ['a dead-letter stream with shards', ['--set', 'streamShards=2', '--set', 'worker.deadLetterStream=events:dead'], /workers\.worker\.deadLetterStream: must stay empty with streamShards=2/],
    ['WAIT with a Redis Cluster', ['--set', 'redis.enabled=false', '--set', 'externalRedis.cluster.nodes={c:6379}', '--set', 'producer.minReplicasAck=1'], /\/producer\/minReplicasAck/],
    ['the rate signal with shards', ['--set', 'streamShards=2', '--set', 'autoscaling.scalingMode=rate'], /workers\.worker\.autoscaling\.scalingMode: rate is not available with streamShards=2/],
    ['an external Redis without any topology', ['--set', 'redis.enabled=false', '--set', 'externalRedis.existingSecret=s', '--set', 'externalRedis.urlKey='], /externalRedis/],
  ];
  test.each(cases)('%s', (_what, args, message) => {
    const r = helm([...templateArgs(), ...args]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
