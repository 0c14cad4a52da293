/**
 * The chart on Kubernetes 1.20 and on current versions, with Helm 4's server-side apply:
 *  - API versions and fields chosen from .Capabilities (templates/_helpers.tpl), checked with
 *    --kube-version/--api-versions and against a stand-in API server's real discovery;
 *  - every Service and container port names its protocol (server-side apply's merge key);
 *  - redis.persistence.enabled=false (an emptyDir instead of a PVC);
 *  - an upgrade into an autoscaled mode keeps the live worker replica count (`lookup`);
 *  - ci/local-cluster-values.yaml, the values of the local 1.20 cluster.
 */
import { parsePools } from '../../services/autoscaler/src/pools-config';
import { join } from 'node:path';
import { CI_DIR, ciValuesFiles, find, helm, helmAsync, one, parseObjects, render, templateArgs, type K8sObject, type RenderOptions } from './support/helm';
import { schemaProblems, unknownBuiltinFields, versionProblems } from './support/validate';
import { podSpecOf, restrictedViolations, type PodSpec } from './support/pss';
import { ownedByRelease, startFakeApiServer, type FakeServerOptions } from './support/fake-apiserver';

const CI = ciValuesFiles();
const KUBE_1_20 = ['--kube-version', '1.20.2'];
const KUBE_CURRENT = ['--kube-version', '1.30.0', '--api-versions', 'policy/v1/PodDisruptionBudget'];

interface Pdb extends K8sObject {
  spec: { maxUnavailable?: number | string; unhealthyPodEvictionPolicy?: string; selector: unknown };
}
interface Port {
  name?: string;
  port?: number;
  containerPort?: number;
  protocol?: string;
}
interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  persistentVolumeClaim?: unknown;
}
interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  ports?: Port[];
  env?: Array<{ name: string; value?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
    template: { spec: PodSpec & { containers: Container[]; volumes?: Volume[]; topologySpreadConstraints?: Array<Record<string, unknown>> } };
  };
}

const pdbOf = (objs: K8sObject[]): Pdb => one(objs, 'PodDisruptionBudget') as Pdb;
const workerOf = (objs: K8sObject[]): Workload => one(objs, 'Deployment', '-worker') as Workload;
const spreadOf = (objs: K8sObject[]) => workerOf(objs).spec.template.spec.topologySpreadConstraints ?? [];
const withArgs = (extraArgs: string[], o: RenderOptions = {}): K8sObject[] => render({ ...o, extraArgs: [...(o.extraArgs ?? []), ...extraArgs] });

describe('Kubernetes versions: API versions and fields from .Capabilities', () => {
  test('Chart.yaml admits Kubernetes 1.20 and newer: 1.20.2 renders, 1.19 is refused naming the constraint', () => {
    expect(helm([...templateArgs(), ...KUBE_1_20]).status).toBe(0);
    const old = helm([...templateArgs(), '--kube-version', '1.19.16']);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toMatch(/kubeVersion: >=1\.20\.0-0.*incompatible.*v1\.19\.16/);
  });

  test('Kubernetes 1.20.2: PodDisruptionBudget policy/v1beta1 without unhealthyPodEvictionPolicy, topology spread without matchLabelKeys', () => {
    const objs = withArgs(KUBE_1_20);
    const pdb = pdbOf(objs);
    expect(pdb.apiVersion).toBe('policy/v1beta1');
    expect(pdb.spec).not.toHaveProperty('unhealthyPodEvictionPolicy');
    expect(pdb.spec.maxUnavailable).toBe(1);
    const spread = spreadOf(objs);
    expect(spread).toHaveLength(2);
    for (const c of spread) expect(c).not.toHaveProperty('matchLabelKeys');
  });

  test('Kubernetes 1.30.0 listing policy/v1 PodDisruptionBudget: policy/v1 with unhealthyPodEvictionPolicy, matchLabelKeys on every constraint', () => {
    const objs = withArgs(KUBE_CURRENT);
    const pdb = pdbOf(objs);
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    const spread = spreadOf(objs);
    expect(spread).toHaveLength(2);
    for (const c of spread) expect(c.matchLabelKeys).toEqual(['pod-template-hash']);
  });

  test('the boundaries: 1.21 policy/v1 without either field, 1.26 adds unhealthyPodEvictionPolicy, 1.27 adds matchLabelKeys', () => {
    const at = (version: string) => {
      const objs = withArgs(['--kube-version', version, '--api-versions', 'policy/v1/PodDisruptionBudget,policy/v1beta1/PodDisruptionBudget']);
      return { version, pdb: pdbOf(objs).apiVersion, unhealthy: 'unhealthyPodEvictionPolicy' in pdbOf(objs).spec, matchLabelKeys: spreadOf(objs).some((c) => 'matchLabelKeys' in c) };
    };
    expect(['1.21.0', '1.25.16', '1.26.0', '1.27.0-eks-4f4795d'].map(at)).toEqual([
      { version: '1.21.0', pdb: 'policy/v1', unhealthy: false, matchLabelKeys: false },
      { version: '1.25.16', pdb: 'policy/v1', unhealthy: false, matchLabelKeys: false },
      { version: '1.26.0', pdb: 'policy/v1', unhealthy: true, matchLabelKeys: false },
      { version: '1.27.0-eks-4f4795d', pdb: 'policy/v1', unhealthy: true, matchLabelKeys: true },
    ]);
  });

  test('offline without --api-versions (Helm lists no kinds): the Kubernetes version decides the PodDisruptionBudget version', () => {
    expect(pdbOf(withArgs(['--kube-version', '1.20.2'])).apiVersion).toBe('policy/v1beta1');
    expect(pdbOf(withArgs(['--kube-version', '1.30.0'])).apiVersion).toBe('policy/v1');
    // Helm's own default version (a current one): what `helm template` and `helm lint` render.
    expect(pdbOf(render()).apiVersion).toBe('policy/v1');
  });

  describe.each(CI)('%s', (file) => {
    const valuesFiles = [join(CI_DIR, file)];
    test('renders for 1.20.2 and for 1.30.0 with nothing the server lacks, every object valid against its schema', () => {
      for (const [minor, args] of [[20, KUBE_1_20], [30, KUBE_CURRENT]] as const) {
        const objs = withArgs([...args], { valuesFiles });
        expect({ minor, problems: objs.flatMap((o) => [...schemaProblems(o), ...versionProblems(o, minor)]) }).toEqual({ minor, problems: [] });
      }
    });
  });

  test('the version check catches policy/v1 and new fields on 1.20, policy/v1beta1 on 1.25, an unknown kind; a v1beta1 PodDisruptionBudget may not carry unhealthyPodEvictionPolicy', () => {
    const current = withArgs(KUBE_CURRENT);
    const on120 = current.flatMap((o) => versionProblems(o, 20)).join('\n');
    expect(on120).toMatch(/policy\/v1\/PodDisruptionBudget .*not served by Kubernetes 1\.20/);
    expect(on120).toMatch(/topologySpreadConstraints\[0\]\.matchLabelKeys needs Kubernetes 1\.25\+/);
    const old = pdbOf(withArgs(KUBE_1_20));
    expect(versionProblems(old, 20)).toEqual([]);
    expect(versionProblems(old, 25)).toEqual([expect.stringContaining('not served by Kubernetes 1.25')]);
    expect(versionProblems({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'x' } }, 30)).toEqual([expect.stringContaining('no entry')]);
    const withField: K8sObject = { ...old, spec: { ...(old.spec as object), unhealthyPodEvictionPolicy: 'AlwaysAllow' } };
    expect(unknownBuiltinFields(withField)).toEqual(['spec.unhealthyPodEvictionPolicy']);
    expect(versionProblems({ ...pdbOf(current) }, 25)).toEqual([expect.stringContaining('spec.unhealthyPodEvictionPolicy needs Kubernetes 1.26+')]);
  });
});

describe('every Service port and every container port names protocol TCP (the merge key of server-side apply)', () => {
  test.each(['(defaults)', ...CI])('%s', (file) => {
    const objs = render({ valuesFiles: file === '(defaults)' ? [] : [join(CI_DIR, file)] });
    const servicePorts = find(objs, 'Service').flatMap((s) => ((s as K8sObject & { spec: { ports: Port[] } }).spec.ports ?? []).map((p) => ({ at: `Service/${s.metadata.name}:${p.port}`, protocol: p.protocol })));
    const containerPorts = objs.flatMap((o) => (podSpecOf(o)?.containers ?? []).flatMap((c) => ((c as Container).ports ?? []).map((p) => ({ at: `${o.kind}/${o.metadata.name}/${c.name}:${p.containerPort}`, protocol: p.protocol }))));
    expect(servicePorts.length).toBeGreaterThanOrEqual(3);
    expect(containerPorts.length).toBeGreaterThanOrEqual(3);
    for (const p of [...servicePorts, ...containerPorts]) expect(p).toEqual({ at: p.at, protocol: 'TCP' });
  });
});

describe('redis.persistence', () => {
  const redisOf = (set: string[]) => one(render({ set }), 'StatefulSet') as Workload;
  const dataMount = (sts: Workload) => sts.spec.template.spec.containers[0]!.volumeMounts?.find((m) => m.mountPath === '/data')?.name;

  test('enabled (the default): /data from a volumeClaimTemplate named data, no pod volume of that name', () => {
    const sts = redisOf([]);
    expect(sts.spec.volumeClaimTemplates?.map((t) => t.metadata.name)).toEqual(['data']);
    expect(dataMount(sts)).toBe('data');
    expect(sts.spec.template.spec.volumes?.map((v) => v.name)).not.toContain('data');
  });

  test('enabled=false: no volumeClaimTemplates, /data on an emptyDir volume named data; still Pod Security "restricted"', () => {
    const sts = redisOf(['redis.persistence.enabled=false']);
    expect(sts.spec).not.toHaveProperty('volumeClaimTemplates');
    expect(dataMount(sts)).toBe('data');
    expect(sts.spec.template.spec.volumes?.filter((v) => v.name === 'data')).toEqual([{ name: 'data', emptyDir: {} }]);
    expect(restrictedViolations(sts.spec.template.spec)).toEqual([]);
    expect(schemaProblems(sts)).toEqual([]);
  });

  test('the schema takes a boolean only, and names a misspelt key next to it', () => {
    const notBool = helm([...templateArgs(), '--set-string', 'redis.persistence.enabled=no']);
    expect(notBool.status).not.toBe(0);
    expect(notBool.stderr).toMatch(/\/redis\/persistence\/enabled.*boolean/s);
    const typo = helm([...templateArgs(), '--set', 'redis.persistence.enable=false']);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toMatch(/at '\/redis\/persistence': additional properties 'enable' not allowed/);
  });
});

describe('an upgrade into an autoscaled mode keeps the live worker replica count (lookup of the worker Deployment)', () => {
  const NS = 'stream-workers';
  /** The worker Deployment as an earlier `autoscaling.mode=none` release left it, scaled to `replicas`. */
  const liveWorker = (replicas: number): K8sObject => {
    const w = workerOf(render({ set: ['autoscaling.mode=none'] }));
    return ownedByRelease({ ...w, spec: { ...(w.spec as object), replicas } }, 'sw', NS);
  };
  /** `helm template --dry-run=server` against a stand-in server: real discovery and `lookup`. */
  const renderAgainst = async (server: FakeServerOptions, set: string[]) => {
    const api = await startFakeApiServer(server);
    try {
      const r = await helmAsync([...templateArgs({ set, namespace: NS }), '--dry-run=server', '--disable-openapi-validation', '--kubeconfig', api.kubeconfig], api.clientEnv);
      if (r.status !== 0) throw new Error(`helm template --dry-run=server failed (${r.status}): ${r.stderr}`);
      return { objs: parseObjects(r.stdout), requests: api.requests };
    } finally {
      await api.close();
    }
  };
  const on120 = (objects: K8sObject[] = []): FakeServerOptions => ({ version: '1.20.2', policyVersions: ['v1beta1'], keda: true, objects });

  test('helm template without a cluster (lookup finds nothing): builtin mode renders no replicas', () => {
    expect(workerOf(render({ set: ['autoscaling.mode=builtin'] })).spec).not.toHaveProperty('replicas');
  });

  test('fresh install against a 1.20 server: no replicas; the server\'s discovery picks policy/v1beta1 and no matchLabelKeys', async () => {
    const { objs, requests } = await renderAgainst(on120(), ['autoscaling.mode=builtin']);
    expect(requests).toContain(`GET /apis/apps/v1/namespaces/${NS}/deployments/sw-stream-workers-worker`);
    expect(workerOf(objs).spec).not.toHaveProperty('replicas');
    expect(pdbOf(objs).apiVersion).toBe('policy/v1beta1');
    expect(pdbOf(objs).spec).not.toHaveProperty('unhealthyPodEvictionPolicy');
    for (const c of spreadOf(objs)) expect(c).not.toHaveProperty('matchLabelKeys');
    expect(objs.flatMap((o) => versionProblems(o, 20))).toEqual([]);
  });

  test('against a current server (policy/v1 only): policy/v1 with unhealthyPodEvictionPolicy and matchLabelKeys', async () => {
    const { objs } = await renderAgainst({ version: '1.30.4', policyVersions: ['v1'] }, []);
    expect(pdbOf(objs).apiVersion).toBe('policy/v1');
    expect(pdbOf(objs).spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    for (const c of spreadOf(objs)) expect(c.matchLabelKeys).toEqual(['pod-template-hash']);
  });

  test.each([
    ['builtin', 3, 3],
    ['builtin', 0, 0],
    ['keda-metrics-api', 5, 5],
  ])('mode %s, live Deployment at %d replicas: renders replicas %d', async (mode, live, expected) => {
    const { objs } = await renderAgainst(on120([liveWorker(live)]), [`autoscaling.mode=${mode}`]);
    expect(workerOf(objs).spec.replicas).toBe(expected);
  });

  test('mode none: the value of worker.replicas, whatever the live count', async () => {
    const { objs } = await renderAgainst(on120([liveWorker(7)]), ['autoscaling.mode=none', 'worker.replicas=2']);
    expect(workerOf(objs).spec.replicas).toBe(2);
  });
});

describe('ci/local-cluster-values.yaml (the local Kubernetes 1.20 node)', () => {
  const objs = () => withArgs(KUBE_1_20, { valuesFiles: [join(CI_DIR, 'local-cluster-values.yaml')] });
  const containers = (o: K8sObject[]) => o.flatMap((x) => (podSpecOf(x)?.containers ?? []) as Container[]);

  test('images built on the node, never pulled: stream-workers:dev and stream-workers-redis:dev running `redis-server /etc/redis/redis.conf`', () => {
    const o = objs();
    for (const c of containers(o)) expect({ c: c.name, pull: c.imagePullPolicy }).toEqual({ c: c.name, pull: 'Never' });
    const redis = (one(o, 'StatefulSet') as Workload).spec.template.spec.containers[0]!;
    expect(redis.image).toBe('stream-workers-redis:dev');
    // The password (required by default) from the generated Secret, expanded by the kubelet.
    expect([...(redis.command ?? []), ...(redis.args ?? [])]).toEqual(['redis-server', '/etc/redis/redis.conf', '--requirepass', '$(REDIS_PASSWORD)']);
    expect(redis.volumeMounts).toEqual(expect.arrayContaining([{ name: 'config', mountPath: '/etc/redis', readOnly: true }]));
    for (const c of containers(o).filter((x) => x.name !== 'redis')) expect(c.image).toBe('stream-workers:dev');
  });

  test('no PersistentVolumeClaim (no StorageClass on the node), small requests, builtin autoscaling with short timings', () => {
    const o = objs();
    expect((one(o, 'StatefulSet') as Workload).spec).not.toHaveProperty('volumeClaimTemplates');
    const cpuMilli = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);
    const miB = (q: string) => (q.endsWith('Mi') ? Number(q.slice(0, -2)) : q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : NaN);
    let requestedCpu = 0;
    for (const c of containers(o)) {
      expect({ c: c.name, cpu: cpuMilli(c.resources!.requests!.cpu!) <= 50, memory: miB(c.resources!.requests!.memory!) <= 64 }).toEqual({ c: c.name, cpu: true, memory: true });
      requestedCpu += cpuMilli(c.resources!.requests!.cpu!);
    }
    expect(requestedCpu).toBeLessThan(500); // of the node's 2 cores, with the workers at their minimum
    const env = new Map((one(o, 'Deployment', '-autoscaler') as Workload).spec.template.spec.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(parsePools(env.get('POOLS')!)[0]).toMatchObject({ pollIntervalMs: 1000, cooldownS: 10, scaleDownWindowS: 10, targetPerReplica: 1000, minReplicas: 0, maxReplicas: 4 });
    const workerEnv = new Map(workerOf(o).spec.template.spec.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect([workerEnv.get('CLAIM_IDLE_MS'), workerEnv.get('SHUTDOWN_GRACE_MS')]).toEqual(['5000', '10000']);
    expect((one(o, 'Deployment', '-producer') as Workload).spec.replicas).toBe(1);
  });
});
