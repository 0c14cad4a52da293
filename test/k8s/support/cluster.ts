/**
 * The local cluster as the e2e suite sees it: kubectl, helm and docker against the node that
 * `make cluster-up` started (kubeconfig in .cluster/), Redis and the services reached through their
 * Service ClusterIPs (kube-proxy's rules on this host), and the worker containers' exit codes read
 * from the node's engine. Nothing here is a double: every call reaches the real apiserver, kubelet
 * and pods.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { waitFor } from '../../../test-support/process';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const CLUSTER_DIR = process.env.SW_CLUSTER_STATE ?? join(REPO_ROOT, '.cluster');
export const KUBECONFIG = join(CLUSTER_DIR, 'kubeconfig');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'stream-workers');
export const LOCAL_VALUES = join(CHART_DIR, 'ci', 'local-cluster-values.yaml');
export const E2E_IMAGE = { repository: 'stream-workers', tag: 'e2e' };
const TOOLS = join(REPO_ROOT, '.tools', 'bin');
const DOCKER = '/usr/bin/docker';
const DOCKER_HOST = `unix://${join(CLUSTER_DIR, 'docker.sock')}`;

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const toolEnv = (): Record<string, string> => ({
  KUBECONFIG,
  DOCKER_HOST,
  HELM_CACHE_HOME: join(REPO_ROOT, '.tools', 'helm-cache'),
  HELM_CONFIG_HOME: join(REPO_ROOT, '.tools', 'helm-config'),
  HELM_DATA_HOME: join(REPO_ROOT, '.tools', 'helm-data'),
});

function run(cmd: string, args: string[], input?: string): Run {
  const r = spawnSync(cmd, args, {
    cwd: REPO_ROOT,
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 600_000,
    env: { ...process.env, ...toolEnv() },
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** The same, without blocking the event loop (for work that must go on while the command runs). */
function runAsync(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...toolEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function must(what: string, r: Run): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stderr.slice(-3000)}${r.stdout.slice(-1000)}`);
  return r.stdout;
}

export const kubectlRun = (args: string[], input?: string): Run => run(join(TOOLS, 'kubectl'), args, input);
export const kubectl = (args: string[], input?: string): string => must(`kubectl ${args.join(' ')}`, kubectlRun(args, input));
// any: kubectl JSON is checked field by field where used
export const kubectlJson = (args: string[]): any => JSON.parse(kubectl([...args, '-o', 'json']));
export const helmRun = (args: string[]): Run => run(join(TOOLS, 'helm'), args);
export const helm = (args: string[]): string => must(`helm ${args.join(' ')}`, helmRun(args));
/** helm without blocking the event loop (traffic the test drives keeps flowing meanwhile). */
export const helmAsync = async (args: string[]): Promise<string> => must(`helm ${args.join(' ')}`, await runAsync(join(TOOLS, 'helm'), args));
/** Every release of the namespace, whatever its state (failed and pending ones too). */
export const releasesIn = (ns: string): string[] =>
  helm(['list', '--namespace', ns, '--deployed', '--failed', '--pending', '--superseded', '--uninstalling', '-q']).split('\n').filter(Boolean);
export const docker = (args: string[]): string => must(`docker ${args.join(' ')}`, run(DOCKER, args));

/** Fails with what to do when the cluster is not up (the suite never starts one itself). */
export function assertCluster(): void {
  if (!existsSync(KUBECONFIG)) throw new Error(`${KUBECONFIG} missing: run \`make cluster-up\` (or \`make test-k8s\`) first`);
  must('kubectl get nodes', kubectlRun(['get', 'nodes']));
}

/**
 * stream-workers:e2e = stream-workers:dev plus the recording handler of the process tests
 * (test-support/handlers/recording-handler.js, which counts starts and completions per event id in
 * Redis): the per-event ledger. Built into the node's engine; cached layers make a rebuild instant.
 */
export function buildE2eImage(): void {
  const ctx = mkdtempSync(join(tmpdir(), 'sw-e2e-image-'));
  try {
    copyFileSync(join(REPO_ROOT, 'test-support', 'handlers', 'recording-handler.js'), join(ctx, 'recording-handler.js'));
    writeFileSync(
      join(ctx, 'Dockerfile'),
      ['FROM stream-workers:dev', 'COPY recording-handler.js /app/test-support/handlers/recording-handler.js', ''].join('\n'),
    );
    docker(['build', '-q', '-t', `${E2E_IMAGE.repository}:${E2E_IMAGE.tag}`, ctx]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/**
 * An image as a user builds it: FROM the e2e image (the project's image plus the recording handler)
 * with `files` (path in the image -> content) added, owned by the image's user (1000).
 */
export function buildDerivedImage(tag: string, files: Record<string, string>): void {
  const ctx = mkdtempSync(join(tmpdir(), 'sw-derived-image-'));
  try {
    const lines = [`FROM ${E2E_IMAGE.repository}:${E2E_IMAGE.tag}`];
    Object.entries(files).forEach(([dest, content], i) => {
      writeFileSync(join(ctx, `f${i}`), content);
      lines.push(`COPY --chown=1000:1000 f${i} ${dest}`);
    });
    writeFileSync(join(ctx, 'Dockerfile'), `${lines.join('\n')}\n`);
    docker(['build', '-q', '-t', tag, ctx]);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export const RECORDING_HANDLER = '/app/test-support/handlers/recording-handler.js';

/** helm arguments that run the workers with the recording handler writing to ledger key `key`. */
export function recordingWorkerArgs(key: string, workMs: number): string[] {
  return [
    '--set', `image.repository=${E2E_IMAGE.repository}`,
    '--set', `image.tag=${E2E_IMAGE.tag}`,
    '--set', `worker.handler=${RECORDING_HANDLER}`,
    '--set', 'worker.extraEnv[0].name=RECORD_KEY',
    '--set-string', `worker.extraEnv[0].value=${key}`,
    '--set', 'worker.extraEnv[1].name=RECORD_WORK_MS',
    '--set-string', `worker.extraEnv[1].value=${workMs}`,
  ];
}

/**
 * A cluster step's deadline (jest's own testTimeout is the root config's 120 s: a per-project
 * testTimeout is not applied, so every cluster test passes this one explicitly).
 */
export const STEP_TIMEOUT_MS = 600_000;

/**
 * Steps of one scenario that build on each other: after a failed step the later ones fail at once
 * with that name instead of running against a broken release.
 */
export function sequence(onFailure?: () => void): (name: string, fn: () => Promise<void>, timeoutMs?: number) => void {
  let failed: string | undefined;
  return (name, fn, timeoutMs) =>
    test(name, async () => {
      if (failed) throw new Error(`not run: the earlier step "${failed}" failed`);
      try {
        await fn();
      } catch (err) {
        failed = name;
        onFailure?.();
        throw err;
      }
    }, timeoutMs ?? STEP_TIMEOUT_MS);
}

export function createNamespace(ns: string): void {
  kubectl(['create', 'namespace', ns]);
}

/**
 * The scenario's own namespace: created fresh before its tests (a leftover of an earlier run is
 * deleted first), deleted after them unless SW_E2E_KEEP=1. Call it first in the describe block:
 * jest runs beforeAll hooks in order and afterAll hooks in reverse, so the namespace outlives the
 * scenario's own hooks.
 */
export function useNamespace(ns: string): void {
  beforeAll(async () => {
    assertCluster();
    await deleteNamespace(ns);
    createNamespace(ns);
  });
  afterAll(async () => {
    await deleteNamespace(ns, false);
  });
}

/**
 * What a failed scenario leaves to read: the namespace's pods, recent events and the last log lines
 * of each Deployment (printed to the test output).
 */
export function diagnostics(ns: string): string {
  const out = [kubectlRun(['-n', ns, 'get', 'pods,deployments', '-o', 'wide']).stdout, kubectlRun(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']).stdout.split('\n').slice(-25).join('\n')];
  for (const d of kubectlRun(['-n', ns, 'get', 'deployments', '-o', 'name']).stdout.split('\n').filter(Boolean)) {
    out.push(`--- ${d} (last 30 log lines)`, kubectlRun(['-n', ns, 'logs', d, '--tail=30', '--all-containers']).stdout);
  }
  return out.join('\n');
}

/** Deletes the namespace and waits until it is gone; SW_E2E_KEEP=1 keeps it for reading after a run. */
export async function deleteNamespace(ns: string, always = true): Promise<void> {
  if (!always && process.env.SW_E2E_KEEP === '1') return;
  kubectlRun(['delete', 'namespace', ns, '--wait=false']);
  await waitFor(() => kubectlRun(['get', 'namespace', ns]).status !== 0, 180_000, 500, `namespace ${ns} deleted`);
}

export interface Names {
  worker: string;
  producer: string;
  exporter: string;
  autoscaler: string;
  redis: string;
}

/** Object names of release `release` (the chart's <release>-stream-workers-<component>). */
export function names(release: string): Names {
  const base = release.includes('stream-workers') ? release : `${release}-stream-workers`;
  return { worker: `${base}-worker`, producer: `${base}-producer`, exporter: `${base}-lag-exporter`, autoscaler: `${base}-autoscaler`, redis: `${base}-redis` };
}

export function clusterIP(ns: string, service: string): string {
  const ip = kubectl(['-n', ns, 'get', 'service', service, '-o', 'jsonpath={.spec.clusterIP}']).trim();
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`service ${ns}/${service} has no ClusterIP (${ip})`);
  return ip;
}

/** The release's Redis password, from the Secret the chart generated (redis.auth is on by default). */
export function redisPassword(ns: string, release: string): string | undefined {
  const r = kubectlRun(['-n', ns, 'get', 'secret', `${names(release).redis}-auth`, '-o', 'jsonpath={.data.password}']);
  return r.status === 0 && r.stdout.trim() ? Buffer.from(r.stdout.trim(), 'base64').toString('utf8') : undefined;
}

/** A client of the release's Redis through its Service's ClusterIP (with the release's password when it has one). */
export async function redisOf(ns: string, release: string, opts: { password?: string | null } = {}): Promise<Redis> {
  const password = opts.password === null ? undefined : (opts.password ?? redisPassword(ns, release));
  const redis = new Redis({ host: clusterIP(ns, names(release).redis), port: 6379, lazyConnect: true, maxRetriesPerRequest: 3, ...(password ? { password } : {}) });
  redis.on('error', () => undefined);
  await redis.connect();
  return redis;
}

export function deploymentReplicas(ns: string, name: string): { spec: number; ready: number; available: number } {
  const d = kubectlJson(['-n', ns, 'get', 'deployment', name]);
  return { spec: d.spec.replicas ?? 1, ready: d.status.readyReplicas ?? 0, available: d.status.availableReplicas ?? 0 };
}

export interface PodInfo {
  name: string;
  ready: boolean;
  phase: string;
  deleting: boolean;
}

export function pods(ns: string, selector: string): PodInfo[] {
  const list = kubectlJson(['-n', ns, 'get', 'pods', '-l', selector]);
  return (list.items as Array<{ metadata: { name: string; deletionTimestamp?: string }; status: { phase: string; conditions?: Array<{ type: string; status: string }> } }>).map((p) => ({
    name: p.metadata.name,
    phase: p.status.phase,
    deleting: Boolean(p.metadata.deletionTimestamp),
    ready: (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
  }));
}

export const workerSelector = (release: string): string => `app.kubernetes.io/instance=${release},app.kubernetes.io/component=worker`;

/** One row of an XINFO reply (name, value, name, value, …) as a map. */
function xinfoRow(row: unknown[]): Map<string, unknown> {
  const f = new Map<string, unknown>();
  for (let i = 0; i + 1 < row.length; i += 2) f.set(String(row[i]), row[i + 1]);
  return f;
}

/** The Deployment's spec.replicas and readyReplicas (absent while no pod is Ready: 0); undefined when unreadable. */
export function readReplicas(ns: string, deployment: string): { replicas: number; ready: number } | undefined {
  const r = kubectlRun(['-n', ns, 'get', 'deployment', deployment, '-o', 'jsonpath={.spec.replicas} {.status.readyReplicas}']);
  if (r.status !== 0) return undefined;
  const [replicas = 0, ready = 0] = r.stdout.trim().split(' ').map((v) => Number(v || 0));
  return { replicas, ready };
}

/** Consumer names of `group` on `stream` with their pending counts. */
export async function consumers(redis: Redis, stream: string, group: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const rows = (await redis.xinfo('CONSUMERS', stream, group).catch(() => [])) as unknown[][];
  for (const f of rows.map(xinfoRow)) out.set(String(f.get('name')), Number(f.get('pending')));
  return out;
}

/** Lag + pending of the group (the autoscaler's signal) and its consumer count, from XINFO GROUPS. */
export async function groupState(redis: Redis, stream: string, group: string): Promise<{ outstanding: number; consumers: number }> {
  const rows = (await redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
  for (const f of rows.map(xinfoRow)) {
    if (f.get('name') === group) return { outstanding: Number(f.get('lag') ?? 0) + Number(f.get('pending') ?? 0), consumers: Number(f.get('consumers') ?? 0) };
  }
  return { outstanding: Number.NaN, consumers: 0 };
}

export const outstanding = async (redis: Redis, stream: string, group: string): Promise<number> => (await groupState(redis, stream, group)).outstanding;

/**
 * The exit code of every worker container of a namespace that stops, from the node's engine: a
 * `docker events` stream of `die` events (the kubelet removes a deleted pod's containers within a
 * second, too fast for polling, but each one's `die` event carries its exit code and pod name).
 */
export class ExitWatcher {
  readonly exits: Array<{ pod: string; exitCode: number }> = [];
  private proc: ChildProcess | undefined;
  private buffered = '';

  constructor(private readonly ns: string, private readonly container = 'worker') {}

  start(): this {
    this.proc = spawn(DOCKER, ['events', '--filter', 'type=container', '--filter', 'event=die', '--filter', `label=io.kubernetes.pod.namespace=${this.ns}`,
      '--filter', `label=io.kubernetes.container.name=${this.container}`, '--format', '{{json .}}'], { env: { ...process.env, DOCKER_HOST: DOCKER_HOST }, stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.buffered += chunk;
      const lines = this.buffered.split('\n');
      this.buffered = lines.pop()!;
      for (const line of lines.filter(Boolean)) {
        const attrs = (JSON.parse(line) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes;
        this.exits.push({ pod: attrs['io.kubernetes.pod.name']!, exitCode: Number(attrs.exitCode) });
      }
    });
    return this;
  }

  /** Exit codes of the containers of `pod`, in the order they stopped. */
  of(pod: string): number[] {
    return this.exits.filter((e) => e.pod === pod).map((e) => e.exitCode);
  }

  stop(): void {
    this.proc?.kill('SIGTERM');
  }
}

/** Records a Deployment's spec.replicas every `intervalMs` as a timeline of changes. */
export class ReplicaTimeline {
  readonly changes: Array<{ t: number; replicas: number; ready: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  readonly t0 = Date.now();

  constructor(private readonly ns: string, private readonly deployment: string, private readonly intervalMs = 500) {}

  start(): this {
    const tick = (): void => {
      const now = readReplicas(this.ns, this.deployment);
      if (now) {
        const last = this.changes[this.changes.length - 1];
        if (!last || last.replicas !== now.replicas || last.ready !== now.ready) this.changes.push({ t: Date.now() - this.t0, ...now });
      }
      this.timer = setTimeout(tick, this.intervalMs);
    };
    tick();
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** "t+1.2s 0 (ready 0), t+3.4s 4 (ready 1), ..." */
  toString(): string {
    return this.changes.map((c) => `t+${(c.t / 1000).toFixed(1)}s ${c.replicas} (ready ${c.ready})`).join(', ');
  }
}

/** The Authorization header of the chart's generated API token (producer.auth.mode=token, the default); none without that Secret. */
function producerAuth(ns: string, release: string): Record<string, string> {
  let b64: string;
  try {
    b64 = kubectl(['-n', ns, 'get', 'secret', `${names(release).producer}-tokens`, '-o', 'jsonpath={.data.token}']).trim();
  } catch {
    return {};
  }
  return b64 ? { authorization: `Bearer ${Buffer.from(b64, 'base64').toString('utf8')}` } : {};
}

/** POSTs `count` events to the producer Service in batches; returns the ids sent (all answered 202). */
export async function publish(ns: string, release: string, stream: string, count: number, opts: { prefix: string; type?: string; batch?: number; data?: (i: number) => unknown; onBatch?: (n: number) => void }): Promise<string[]> {
  const url = `http://${clusterIP(ns, names(release).producer)}:8080/v1/streams/${encodeURIComponent(stream)}/events`;
  const batch = opts.batch ?? 500;
  const ids: string[] = [];
  const auth = producerAuth(ns, release);
  for (let start = 0; start < count; start += batch) {
    const events = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const id = `${opts.prefix}-${i}`;
      ids.push(id);
      events.push({ id, source: '/e2e', type: opts.type ?? 'e2e.burst', data: opts.data ? opts.data(i) : { n: i } });
    }
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json', ...auth }, body: JSON.stringify(events) });
    if (res.status !== 202) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    opts.onBatch?.(events.length);
  }
  return ids;
}

/** Lost and duplicated events from the recording handler's ledger (<key>:done counts per id). */
export async function ledger(redis: Redis, key: string, ids: string[]): Promise<{ done: number; lost: number; duplicates: number }> {
  const done = await redis.hgetall(`${key}:done`);
  let lost = 0;
  let duplicates = 0;
  for (const id of ids) {
    const n = Number(done[id] ?? 0);
    if (n === 0) lost += 1;
    else duplicates += n - 1;
  }
  return { done: Object.keys(done).length, lost, duplicates };
}
