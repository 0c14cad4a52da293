/**
 * A stand-in for a Kubernetes API server, on loopback, answering only what `helm template
 * --dry-run=server` asks of one: the server version, discovery (the API groups and kinds it serves),
 * and GETs of single objects (those it was given; 404 for the rest). It lets a test see what the
 * chart renders against a server of a given version holding given objects: .Capabilities from real
 * discovery (not --kube-version/--api-versions) and `lookup` results. Nothing is ever written.
 *
 * Not a Kubernetes: no OpenAPI documents (run helm with --disable-openapi-validation), no lists,
 * no watches, no authentication.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { K8sObject } from './helm';

/** One served kind: its resource (plural) name and whether it lives in a namespace. */
interface Kind {
  plural: string;
  namespaced: boolean;
}

export interface FakeServerOptions {
  /** Server version, e.g. "1.20.2". */
  version: string;
  /** Versions of the `policy` group the server serves (1.20: v1beta1; 1.21-1.24: both; 1.25+: v1). */
  policyVersions: Array<'v1' | 'v1beta1'>;
  /** Serve KEDA's kinds too (as a cluster with KEDA's CRDs installed does). */
  keda?: boolean;
  /** Objects the server holds (GET by namespace and name finds them). */
  objects?: K8sObject[];
}

export interface FakeApiServer {
  /** Path of a kubeconfig pointing at the server. */
  kubeconfig: string;
  /** Environment for the client (helm): its discovery cache in the server's temp dir, not ~/.kube/cache. */
  clientEnv: NodeJS.ProcessEnv;
  /** Every request seen, as "METHOD /path" (query strings dropped). */
  requests: string[];
  close(): Promise<void>;
}

/** The groups and kinds this chart renders, per group version (what a real server of 1.20+ serves). */
function servedKinds({ policyVersions, keda }: FakeServerOptions): Map<string, Map<string, Kind>> {
  const ns = (plural: string): Kind => ({ plural, namespaced: true });
  const gvs = new Map<string, Map<string, Kind>>([
    ['v1', new Map([['ConfigMap', ns('configmaps')], ['Secret', ns('secrets')], ['Service', ns('services')], ['ServiceAccount', ns('serviceaccounts')], ['Pod', ns('pods')], ['Namespace', { plural: 'namespaces', namespaced: false }]])],
    ['apps/v1', new Map([['Deployment', ns('deployments')], ['StatefulSet', ns('statefulsets')]])],
    ['networking.k8s.io/v1', new Map([['NetworkPolicy', ns('networkpolicies')], ['Ingress', ns('ingresses')]])],
    ['rbac.authorization.k8s.io/v1', new Map([['Role', ns('roles')], ['RoleBinding', ns('rolebindings')]])],
    ['coordination.k8s.io/v1', new Map([['Lease', ns('leases')]])],
  ]);
  for (const v of policyVersions) gvs.set(`policy/${v}`, new Map([['PodDisruptionBudget', ns('poddisruptionbudgets')]]));
  if (keda) gvs.set('keda.sh/v1alpha1', new Map([['ScaledObject', ns('scaledobjects')], ['TriggerAuthentication', ns('triggerauthentications')]]));
  return gvs;
}

export async function startFakeApiServer(o: FakeServerOptions): Promise<FakeApiServer> {
  const [major, minor] = o.version.split('.');
  const gvs = servedKinds(o);
  // Objects by their GET path.
  const byPath = new Map<string, K8sObject>();
  for (const obj of o.objects ?? []) {
    const kind = gvs.get(obj.apiVersion)?.get(obj.kind);
    if (!kind) throw new Error(`fake apiserver: ${obj.apiVersion} ${obj.kind} is not served`);
    const base = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
    byPath.set(`${base}${kind.namespaced ? `/namespaces/${obj.metadata.namespace}` : ''}/${kind.plural}/${obj.metadata.name}`, obj);
  }
  const resourceList = (gv: string, kinds: Map<string, Kind>) => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: [...kinds].map(([kind, k]) => ({ name: k.plural, singularName: kind.toLowerCase(), namespaced: k.namespaced, kind, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] })),
  });
  const groups = new Map<string, string[]>(); // group name -> its versions
  for (const gv of gvs.keys()) {
    if (gv === 'v1') continue;
    const [g, v] = gv.split('/') as [string, string];
    groups.set(g, [...(groups.get(g) ?? []), v]);
  }

  const requests: string[] = [];
  const answer = (req: IncomingMessage): [number, unknown] => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push(`${req.method} ${path}`);
    if (req.method !== 'GET') return [405, status(405, 'MethodNotAllowed', `${req.method} is not served by this fake`)];
    if (path === '/version') return [200, { major, minor, gitVersion: `v${o.version}`, platform: 'linux/amd64' }];
    // Legacy discovery documents (plain application/json): clients that ask for aggregated
    // discovery first fall back to these when the content type says so.
    if (path === '/api') return [200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] }];
    if (path === '/apis') {
      return [200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([name, versions]) => ({ name, versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })), preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] } })) }];
    }
    if (path === '/api/v1') return [200, resourceList('v1', gvs.get('v1')!)];
    const gv = /^\/apis\/([^/]+\/[^/]+)$/.exec(path)?.[1];
    if (gv && gvs.has(gv)) return [200, resourceList(gv, gvs.get(gv)!)];
    const obj = byPath.get(path);
    if (obj) return [200, obj];
    return [404, status(404, 'NotFound', `${path} not found`)];
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const [code, body] = answer(req);
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const dir = mkdtempSync(join(tmpdir(), 'sw-fake-apiserver-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: fake', '  cluster:', `    server: http://127.0.0.1:${port}`, 'contexts:', '- name: fake', '  context: {cluster: fake, user: fake}', 'current-context: fake', 'users:', '- name: fake', '  user: {}', ''].join('\n'),
    { mode: 0o600 },
  );
  return {
    kubeconfig,
    clientEnv: { KUBECACHEDIR: join(dir, 'cache') },
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        rmSync(dir, { recursive: true, force: true });
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, message, code };
}

/** The ownership marks Helm leaves on the objects of a release (helm refuses to adopt objects without them). */
export function ownedByRelease<T extends K8sObject>(obj: T, release: string, namespace: string): T {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      namespace,
      labels: { ...obj.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' },
      annotations: { ...obj.metadata.annotations, 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': namespace },
    },
  };
}
