/**
 * A Kubernetes API-server DOUBLE for tests (no cluster can run here): a real HTTP server that serves
 * only the endpoints the autoscaler uses, with the API server's shapes and status codes:
 *   GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}
 *   GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale
 *   PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale   (merge / strategic-merge / JSON patch)
 *   GET   /api/v1/namespaces/{ns}/pods?labelSelector=k=v,k2=v2
 *   GET   /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}
 *   POST  /apis/coordination.k8s.io/v1/namespaces/{ns}/leases           (409 AlreadyExists)
 *   PUT   /apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}    (409 Conflict on a stale resourceVersion)
 * Anything else answers 404 and is recorded in `unexpected`. Faults (403, 404, 500, …) can be
 * injected per method/path. Every request is recorded with the bearer token that made it, so a test
 * can tell which client did what. It is not Kubernetes: no admission, no controllers, no watch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DoubleDeployment {
  name: string;
  namespace: string;
  replicas: number;
  annotations: Record<string, string>;
  matchLabels: Record<string, string>;
}

export interface DoublePod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

export interface DoubleLease {
  name: string;
  namespace: string;
  resourceVersion: string;
  spec: Record<string, unknown>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  /** The bearer token of the caller (each test client gets its own). */
  user: string;
  contentType: string | undefined;
  body: unknown;
  status: number;
}

export interface Fault {
  method?: string;
  path: RegExp;
  status: number;
  /** How many requests to fail; default forever (until `clearFaults`). */
  times?: number;
  /** Only for this caller's token. */
  user?: string;
}

type Json = Record<string, unknown>;

export class KubeApiDouble {
  readonly deployments = new Map<string, DoubleDeployment>();
  readonly pods = new Map<string, DoublePod>();
  readonly leases = new Map<string, DoubleLease>();
  readonly requests: RecordedRequest[] = [];
  readonly unexpected: RecordedRequest[] = [];
  private faults: Array<Fault & { left: number }> = [];
  private rv = 1000;
  private server: Server | undefined;

  get url(): string {
    const port = (this.server?.address() as AddressInfo | null)?.port;
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  addDeployment(d: Partial<DoubleDeployment> & { name: string }): DoubleDeployment {
    const full: DoubleDeployment = { namespace: 'default', replicas: 0, annotations: {}, matchLabels: { app: d.name }, ...d };
    this.deployments.set(`${full.namespace}/${full.name}`, full);
    return full;
  }

  deployment(name: string, namespace = 'default'): DoubleDeployment | undefined {
    return this.deployments.get(`${namespace}/${name}`);
  }

  addPod(p: Partial<DoublePod> & { name: string }): void {
    const full: DoublePod = { namespace: 'default', labels: {}, ...p };
    this.pods.set(`${full.namespace}/${full.name}`, full);
  }

  deletePod(name: string, namespace = 'default'): void {
    this.pods.delete(`${namespace}/${name}`);
  }

  /** Stands for `kubectl scale`: changes the replicas behind the autoscaler's back. */
  setReplicas(name: string, replicas: number, namespace = 'default'): void {
    const d = this.deployment(name, namespace);
    if (!d) throw new Error(`no deployment ${name}`);
    d.replicas = replicas;
  }

  inject(f: Fault): void {
    this.faults.push({ ...f, left: f.times ?? Infinity });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Scale PATCHes, in order. */
  patches(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/scale') && r.status === 200);
  }

  private nextRv(): string {
    this.rv += 1;
    return String(this.rv);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? (JSON.parse(raw) as unknown) : undefined;
    } catch {
      body = raw;
    }
    const auth = req.headers.authorization ?? '';
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      user: auth.startsWith('Bearer ') ? auth.slice(7) : '',
      contentType: req.headers['content-type'],
      body,
      status: 0,
    };
    this.requests.push(rec);
    const send = (status: number, obj: unknown) => {
      rec.status = status;
      const text = JSON.stringify(obj);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };

    const fault = this.faults.find((f) => f.left > 0 && (!f.method || f.method === rec.method) && f.path.test(rec.path) && (!f.user || f.user === rec.user));
    if (fault) {
      fault.left -= 1;
      send(fault.status, this.faultStatus(fault.status, rec));
      return;
    }
    try {
      const out = this.route(rec, body);
      if (!out) {
        this.unexpected.push(rec);
        send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
        return;
      }
      send(out[0], out[1]);
    } catch (err) {
      send(500, status(500, 'InternalError', err instanceof Error ? err.message : String(err)));
    }
  }

  private route(rec: RecordedRequest, body: unknown): [number, unknown] | undefined {
    let m: RegExpMatchArray | null;
    if ((m = rec.path.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)(\/scale)?$/))) {
      const [, ns, name, scale] = m as unknown as [string, string, string, string | undefined];
      const d = this.deployment(name, ns);
      if (!d) return [404, status(404, 'NotFound', `deployments.apps "${name}" not found`, { name, group: 'apps', kind: 'deployments' })];
      if (!scale && rec.method === 'GET') return [200, this.deploymentObject(d)];
      if (scale && rec.method === 'GET') return [200, this.scaleObject(d)];
      if (scale && rec.method === 'PATCH') {
        const replicas = patchedReplicas(rec.contentType, body);
        if (replicas === undefined || !Number.isInteger(replicas) || replicas < 0) {
          return [422, status(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value`)];
        }
        d.replicas = replicas;
        return [200, this.scaleObject(d)];
      }
      return undefined;
    }
    if ((m = rec.path.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods$/)) && rec.method === 'GET') {
      const ns = m[1]!;
      const selector = new URLSearchParams(rec.query).get('labelSelector') ?? '';
      const match = parseSelector(selector);
      if (!match) return [400, status(400, 'BadRequest', `unable to parse requirement: ${selector}`)];
      const items = [...this.pods.values()]
        .filter((p) => p.namespace === ns && match(p.labels))
        .map((p) => ({ metadata: { name: p.name, namespace: p.namespace, labels: p.labels, uid: `uid-${p.name}` }, spec: { containers: [{ name: 'worker', image: 'worker' }] }, status: { phase: 'Running' } }));
      return [200, { apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: String(this.rv) }, items }];
    }
    if ((m = rec.path.match(/^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/))) {
      const ns = m[1]!;
      const name = m[2];
      if (rec.method === 'POST' && !name) {
        const b = body as Json;
        const meta = (b.metadata ?? {}) as Json;
        const n = String(meta.name ?? '');
        const key = `${ns}/${n}`;
        if (this.leases.has(key)) return [409, status(409, 'AlreadyExists', `leases.coordination.k8s.io "${n}" already exists`)];
        const lease: DoubleLease = { name: n, namespace: ns, resourceVersion: this.nextRv(), spec: (b.spec ?? {}) as Json };
        this.leases.set(key, lease);
        return [201, leaseObject(lease)];
      }
      if (!name) return undefined;
      const key = `${ns}/${name}`;
      const lease = this.leases.get(key);
      if (rec.method === 'GET') {
        if (!lease) return [404, status(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)];
        return [200, leaseObject(lease)];
      }
      if (rec.method === 'PUT') {
        if (!lease) return [404, status(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`)];
        const b = body as Json;
        const rv = String(((b.metadata ?? {}) as Json).resourceVersion ?? '');
        if (rv !== lease.resourceVersion) {
          return [409, status(409, 'Conflict', `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`)];
        }
        lease.spec = (b.spec ?? {}) as Json;
        lease.resourceVersion = this.nextRv();
        return [200, leaseObject(lease)];
      }
      return undefined;
    }
    return undefined;
  }

  private deploymentObject(d: DoubleDeployment): Json {
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: d.name, namespace: d.namespace, annotations: d.annotations, resourceVersion: String(this.rv), uid: `uid-${d.name}`, generation: 1 },
      spec: {
        replicas: d.replicas,
        selector: { matchLabels: d.matchLabels },
        template: { metadata: { labels: d.matchLabels }, spec: { containers: [{ name: 'worker', image: 'worker' }] } },
      },
      status: { replicas: d.replicas, readyReplicas: d.replicas },
    };
  }

  private scaleObject(d: DoubleDeployment): Json {
    return {
      apiVersion: 'autoscaling/v1',
      kind: 'Scale',
      metadata: { name: d.name, namespace: d.namespace, resourceVersion: String(this.rv) },
      spec: { replicas: d.replicas },
      status: { replicas: d.replicas, selector: Object.entries(d.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') },
    };
  }

  /** The Status an API server sends with a 403 or 404, naming the verb and resource. */
  private faultStatus(code: number, rec: RecordedRequest): Json {
    const { verb, resource, group, name, ns } = describeRequest(rec);
    if (code === 403) {
      return status(403, 'Forbidden', `${resource}${group ? `.${group}` : ''} "${name}" is forbidden: User "system:serviceaccount:${ns}:${rec.user || 'anonymous'}" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${ns}"`, { name, group, kind: resource });
    }
    if (code === 404) return status(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, { name, group, kind: resource });
    return status(code, 'InternalError', `injected fault ${code}`);
  }
}

function status(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function leaseObject(l: DoubleLease): Json {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: l.name, namespace: l.namespace, resourceVersion: l.resourceVersion }, spec: l.spec };
}

function describeRequest(rec: RecordedRequest): { verb: string; resource: string; group: string; name: string; ns: string } {
  const parts = rec.path.split('/').filter(Boolean);
  const nsIdx = parts.indexOf('namespaces');
  const ns = nsIdx >= 0 ? parts[nsIdx + 1] ?? '' : '';
  const group = parts[0] === 'apis' ? parts[1] ?? '' : '';
  const rest = nsIdx >= 0 ? parts.slice(nsIdx + 2) : [];
  const resource = rest.length >= 3 ? `${rest[0]}/${rest[2]}` : rest[0] ?? '';
  const name = rest[1] ?? '';
  const verb = { GET: name ? 'get' : 'list', PATCH: 'patch', PUT: 'update', POST: 'create', DELETE: 'delete' }[rec.method] ?? rec.method.toLowerCase();
  return { verb, resource, group, name, ns };
}

/** The replicas a scale patch asks for (merge, strategic merge or JSON patch). */
function patchedReplicas(contentType: string | undefined, body: unknown): number | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim();
  if (ct === 'application/json-patch+json' && Array.isArray(body)) {
    const op = (body as Json[]).find((o) => o.path === '/spec/replicas' && (o.op === 'replace' || o.op === 'add'));
    return op ? Number(op.value) : undefined;
  }
  if ((ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') && body && typeof body === 'object') {
    const spec = (body as Json).spec as Json | undefined;
    return spec && 'replicas' in spec ? Number(spec.replicas) : undefined;
  }
  return undefined;
}

/** Equality-based label selectors (`k=v`, `k==v`, `k!=v`, comma separated), as the API server parses them. */
function parseSelector(selector: string): ((labels: Record<string, string>) => boolean) | undefined {
  if (selector.trim() === '') return () => true;
  const reqs: Array<(l: Record<string, string>) => boolean> = [];
  for (const part of selector.split(',')) {
    const m = part.trim().match(/^([A-Za-z0-9./_-]+)\s*(!=|==|=)\s*([A-Za-z0-9._-]*)$/);
    if (!m) return undefined;
    const [, k, op, v] = m as unknown as [string, string, string, string];
    reqs.push(op === '!=' ? (l) => l[k] !== v : (l) => l[k] === v);
  }
  return (labels) => reqs.every((r) => r(labels));
}

/** Writes a kubeconfig pointing at the double (plain HTTP needs `insecure-skip-tls-verify: true` in client-node). */
export function writeKubeconfig(dir: string, server: string, token: string, namespace = 'default'): string {
  const path = join(dir, `kubeconfig-${token}.yaml`);
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: double',
      '  cluster:',
      `    server: ${server}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      `- name: ${token}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: double',
      '  context:',
      '    cluster: double',
      `    user: ${token}`,
      `    namespace: ${namespace}`,
      'current-context: double',
      '',
    ].join('\n'),
  );
  return path;
}
