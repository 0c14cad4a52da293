/**
 * What ships around the chart and cannot run here (no Docker engine, no kind cluster), checked as far
 * as it can be without them — and each check fails when the thing drifts:
 *  - NOTES.txt for every ci/*-values.yaml (`helm install --dry-run`): the objects it tells the user to
 *    use exist, with the ports it names, and its example event is accepted by the real producer code;
 *  - the optional producer Ingress routes to the producer Service's port;
 *  - the Dockerfile's rules (multi-stage, `npm ci --omit=dev` in the runtime stage, numeric non-root
 *    USER matching the chart's runAsUser, exec-form ENTRYPOINT node, every service's dist copied) and
 *    .dockerignore; and its runtime stage replayed in a temporary directory (its COPY instructions,
 *    then `npm ci --omit=dev`): every service starts from there with only production dependencies;
 *  - docker-compose.yml: every service command exists, every environment passes the service's own
 *    configuration parser, Prometheus' config passes `promtool check config` and scrapes the services
 *    on their ports, Grafana gets the chart's dashboard;
 *  - scripts/e2e-kind.sh and scripts/build-images.sh: bash syntax, the Helm values e2e-kind.sh sets
 *    are accepted by the chart's schema, and the objects it waits on exist under the names it uses.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { buildEvent } from '@stream-workers/core';
import { CHART_DIR, CI_DIR, REPO_ROOT, ciValuesFiles, find, helm, one, render, type K8sObject } from './support/helm';
import { which } from './support/promtool';
import { startService, waitFor } from '../../test-support/process';
import { SHARED_REDIS_URL, freePort } from '../../test-support/redis';
import { producerConfig } from '../../services/producer/src/config';
import { workerConfig } from '../../services/worker/src/config';
import { lagExporterConfig } from '../../services/lag-exporter/src/config';
import { autoscalerConfig } from '../../services/autoscaler/src/config';

const SERVICES = ['producer', 'worker', 'lag-exporter', 'autoscaler'] as const;
type ServiceName = (typeof SERVICES)[number];
const CONFIGS: Record<ServiceName, { parse(env: Record<string, string | undefined>): unknown }> = {
  producer: producerConfig,
  worker: workerConfig,
  'lag-exporter': lagExporterConfig,
  autoscaler: autoscalerConfig,
};
const PORTS: Record<ServiceName, number> = { producer: 8080, worker: 8081, 'lag-exporter': 8082, autoscaler: 8083 };

interface ServiceObject extends K8sObject {
  spec: { ports: Array<{ name?: string; port: number }> };
}

describe('NOTES.txt', () => {
  test.each(ciValuesFiles())('%s: renders, and every object and port it points the user at exists', (file) => {
    const values = join(CI_DIR, file);
    const r = helm(['install', 'sw', 'charts/stream-workers', '--dry-run=client', '--namespace', 'stream-workers', '--values', values]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('\nNOTES:\n'));
    expect(notes.length).toBeGreaterThan(200);
    const objs = render({ valuesFiles: [values] });
    const mode = (parse(readFileSync(values, 'utf8')) as { autoscaling?: { mode?: string } }).autoscaling?.mode ?? 'builtin';
    expect(notes).toContain(`autoscaling: ${mode}.`);

    for (const m of notes.matchAll(/svc\/([a-z0-9-]+) (\d+):(\d+)/g)) {
      const svc = one(objs, 'Service', m[1]!) as ServiceObject;
      expect({ svc: m[1], port: svc.spec.ports.some((p) => p.port === Number(m[3])) }).toEqual({ svc: m[1], port: true });
    }
    for (const m of notes.matchAll(/(?:deployment|deploy)\/([a-z0-9-]+)/g)) expect({ deployment: m[1], exists: find(objs, 'Deployment').some((d) => d.metadata.name === m[1]) }).toEqual({ deployment: m[1], exists: true });
    for (const m of notes.matchAll(/scaledobject\/([a-z0-9-]+) hpa\/keda-hpa-([a-z0-9-]+)/g)) {
      expect(find(objs, 'ScaledObject').map((o) => o.metadata.name)).toEqual([m[1]]);
      expect(m[2]).toBe(m[1]); // KEDA names the HPA keda-hpa-<ScaledObject>
    }
    const worker = one(objs, 'Deployment', '-worker').metadata.name;
    if (mode === 'none') expect(notes).toContain(`scale deployment/${worker} --replicas=`);
    else expect(notes).not.toContain('--replicas=');
    if (mode === 'builtin') expect(notes).toContain(`logs deploy/${one(objs, 'Deployment', '-autoscaler').metadata.name}`);
    if (mode.startsWith('keda')) expect(notes).toContain('KEDA must be installed');

    // The example event of the curl line is one the producer accepts.
    const body = /-d '([^']+)'/.exec(notes);
    if (body) expect(buildEvent(JSON.parse(body[1]!) as unknown).ok).toBe(true);
    const producerEnabled = find(objs, 'Deployment', '-producer').length === 1;
    expect(body !== null).toBe(producerEnabled);
  });
});

describe('producer Ingress (ci/none-values.yaml enables it)', () => {
  test('routes its host and path to the producer Service by a port the Service has, with the TLS and class given', () => {
    const objs = render({ valuesFiles: [join(CI_DIR, 'none-values.yaml')] });
    const ing = one(objs, 'Ingress') as K8sObject & { spec: { ingressClassName: string; tls: unknown[]; rules: Array<{ host: string; http: { paths: Array<{ path: string; pathType: string; backend: { service: { name: string; port: { name?: string; number?: number } } } }> } }> } };
    const svc = one(objs, 'Service', '-producer') as ServiceObject;
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([{ secretName: 'events-example-com-tls', hosts: ['events.example.com'] }]);
    const path = ing.spec.rules[0]!.http.paths[0]!;
    expect(ing.spec.rules[0]!.host).toBe('events.example.com');
    expect(path).toMatchObject({ path: '/', pathType: 'Prefix' });
    expect(path.backend.service.name).toBe(svc.metadata.name);
    expect(svc.spec.ports.map((p) => p.name)).toContain(path.backend.service.port.name);
    // Off by default: no Ingress in the plain manifests.
    expect(find(render(), 'Ingress')).toHaveLength(0);
  });
});

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped). */
function dockerStages(): Array<{ name: string; instructions: Array<{ op: string; args: string }> }> {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages: Array<{ name: string; instructions: Array<{ op: string; args: string }> }> = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [op, ...rest] = t.split(/\s+/);
    const args = rest.join(' ');
    if (op!.toUpperCase() === 'FROM') {
      const m = /\bAS\s+(\S+)$/i.exec(args);
      stages.push({ name: m ? m[1]! : String(stages.length), instructions: [] });
    }
    stages.at(-1)?.instructions.push({ op: op!.toUpperCase(), args });
  }
  return stages;
}

/** `.dockerignore` as Docker applies it (last matching pattern wins, `!` re-includes, `**` any depth). */
function dockerIgnored(path: string): boolean {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const pat = (negate ? p.slice(1) : p).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${pat.split('/').map((seg) => (seg === '**' ? '(?:.*)' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/').replace(/\(\?:\.\*\)\//g, '(?:.*/)?')}(?:/.*)?$`);
    if (re.test(path)) ignored = !negate;
  }
  return ignored;
}

describe('Dockerfile and .dockerignore', () => {
  const stages = dockerStages();
  const runtime = stages.at(-1)!;
  /**
   * The workspaces the image runs. The NestJS module and its example are libraries and a sample that users build
   * into images of their own (docs/nestjs.md): the services' image neither installs nor ships them.
   */
  const NOT_IN_IMAGE = new Set(['services/nestjs', 'examples/nestjs-orders']);
  const allWorkspaces = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const workspaces = allWorkspaces.filter((ws) => !NOT_IN_IMAGE.has(ws));

  test('multi-stage: a build stage with dev dependencies, a runtime stage with `npm ci --omit=dev`, non-root, node as PID 1 (exec form, no shell)', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const buildRuns = stages[0]!.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(buildRuns.some((r) => /\btsc -b\b/.test(r))).toBe(true);
    const runs = runtime.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.filter((r) => /\bnpm (ci|install)\b/.test(r))).toEqual([expect.stringMatching(/\bnpm ci --omit=dev\b/)]);
    expect(runtime.instructions.filter((i) => i.op === 'COPY' && !i.args.includes('--from=build')).every((i) => !/\bsrc\b|\btsconfig/.test(i.args))).toBe(true); // no sources in the runtime image
    const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/); // numeric, so runAsNonRoot can verify it
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // The chart runs the services as that user.
    const worker = one(render(), 'Deployment', '-worker') as K8sObject & { spec: { template: { spec: { securityContext: { runAsUser: number } } } } };
    expect(worker.spec.template.spec.securityContext.runAsUser).toBe(Number(user.split(':')[0]));
    const entrypoint = runtime.instructions.filter((i) => i.op === 'ENTRYPOINT').at(-1)!.args;
    expect(JSON.parse(entrypoint)).toEqual(['node']); // exec form: node is PID 1 and gets SIGTERM itself
    const cmd = runtime.instructions.filter((i) => i.op === 'CMD').at(-1)!.args;
    expect(JSON.parse(cmd)).toEqual(['services/producer/dist/main.js']);
    expect(runtime.instructions.some((i) => /\b(tini|dumb-init|sh -c|bash -c)\b/.test(i.args))).toBe(false);
  });

  test('every workspace: its package.json reaches both stages, its dist the runtime stage', () => {
    for (const ws of workspaces) {
      for (const s of stages) expect({ stage: s.name, ws, copied: s.instructions.some((i) => i.op === 'COPY' && i.args.includes(`${ws}/package.json`)) }).toEqual({ stage: s.name, ws, copied: true });
      expect({ ws, dist: runtime.instructions.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build') && i.args.includes(`/app/${ws}/dist ${ws}/dist`)) }).toEqual({ ws, dist: true });
    }
  });

  test('.dockerignore keeps out node_modules, dist, .git and the rest, and keeps what the build needs', () => {
    for (const p of ['node_modules/x', 'services/core/node_modules/x', 'services/worker/dist/main.js', '.git/HEAD', '.tools/bin/helm', 'bench/src/run.ts', 'docs/demo.md', 'services/worker/test/worker.test.ts', 'demo-report/index.html']) expect({ p, ignored: dockerIgnored(p) }).toEqual({ p, ignored: true });
    const needed = ['package.json', 'package-lock.json', 'tsconfig.base.json', 'README.md'];
    for (const ws of workspaces) needed.push(`${ws}/package.json`, `${ws}/tsconfig.json`, `${ws}/src/index.ts`);
    needed.push('services/producer/src/openapi.json');
    for (const p of needed) expect({ p, exists: existsSync(join(REPO_ROOT, p)), ignored: dockerIgnored(p) }).toEqual({ p, exists: true, ignored: false });
  });

  test('the runtime stage replayed in a temp dir (its COPYs, then npm ci --omit=dev): every service loads with production dependencies only, the producer serves and stops on SIGTERM', async () => {
    const app = mkdtempSync(join(tmpdir(), 'sw-runtime-'));
    try {
      for (const i of runtime.instructions.filter((x) => x.op === 'COPY')) {
        const parts = i.args.split(/\s+/).filter((a) => !a.startsWith('--'));
        const dest = parts.pop()!;
        const fromBuild = i.args.includes('--from=build');
        for (const src of parts) {
          const from = join(REPO_ROOT, fromBuild ? src.replace(/^\/app\//, '') : src);
          expect({ src, exists: existsSync(from) }).toEqual({ src, exists: true }); // built by `tsc -b` like the build stage does
          const to = dest.endsWith('/') ? join(app, dest, src.split('/').pop()!) : join(app, dest === './' ? src.split('/').pop()! : dest);
          mkdirSync(dirname(to), { recursive: true });
          cpSync(from, to, { recursive: true });
        }
      }
      // The RUN of the runtime stage.
      const npm = spawnSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' }, timeout: 300_000 });
      expect({ status: npm.status, err: npm.status === 0 ? '' : npm.stderr.slice(-2000) }).toEqual({ status: 0, err: '' });
      for (const dev of ['typescript', 'jest', '@swc/core', 'bullmq', 'yaml']) expect({ dev, installed: existsSync(join(app, 'node_modules', dev)) }).toEqual({ dev, installed: false });
      // Every module is resolved at load time: a malformed LOG_LEVEL is reported only after all of them loaded.
      for (const svc of SERVICES) {
        const r = spawnSync(process.execPath, [`services/${svc}/dist/main.js`], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH, NODE_ENV: 'production', LOG_LEVEL: 'loud' }, timeout: 30_000 });
        expect({ svc, status: r.status, stderr: r.stderr }).toEqual({ svc, status: 2, stderr: expect.stringContaining('LOG_LEVEL="loud" is invalid') });
      }
      const port = await freePort();
      const stream = `test:runtime-image:${process.pid}`;
      const producer = startService('producer', { REDIS_URL: SHARED_REDIS_URL, PORT: String(port), STREAMS: stream, NODE_ENV: 'production' }, join(app, 'services', 'producer', 'dist', 'main.js'), app);
      try {
        await producer.waitForLog((l) => l.msg === 'producer started', 30_000);
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 20_000, 50, 'readyz');
        expect((await fetch(`http://127.0.0.1:${port}/openapi.json`)).status).toBe(200);
      } finally {
        producer.kill('SIGTERM');
      }
      expect(await producer.exited).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 360_000);
});

describe('docker-compose.yml', () => {
  interface ComposeService {
    image?: string;
    command?: string[];
    environment?: Record<string, string>;
    ports?: string[];
    volumes?: string[];
    stop_grace_period?: string;
  }
  const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };
  const ours = Object.entries(compose.services).filter(([, s]) => s.command?.[0]?.startsWith('services/'));

  test('each service runs an existing entry point with an environment its own configuration accepts, on its contract port', () => {
    expect(ours.map(([name]) => name).sort()).toEqual(['lag-exporter', 'producer', 'worker']);
    for (const [name, s] of ours) {
      const svc = /^services\/([^/]+)\/dist\/main\.js$/.exec(s.command![0]!)?.[1] as ServiceName;
      expect(svc).toBe(name);
      expect(existsSync(join(REPO_ROOT, 'services', svc, 'src', 'main.ts'))).toBe(true);
      expect(() => CONFIGS[svc].parse(s.environment ?? {})).not.toThrow();
      expect(s.environment?.PORT).toBe(String(PORTS[svc]));
      expect(s.environment?.REDIS_URL).toBe('redis://redis:6379');
    }
    // Workers get more time to stop than they take to drain (SHUTDOWN_GRACE_MS).
    const worker = compose.services.worker!;
    const graceMs = (workerConfig.parse(worker.environment ?? {}) as { shutdownGraceMs: number }).shutdownGraceMs;
    expect(Number(/^(\d+)s$/.exec(worker.stop_grace_period ?? '')?.[1]) * 1000).toBeGreaterThan(graceMs);
    // Redis as the design asks: noeviction and AOF.
    const redisCmd = (compose.services.redis!.command ?? []).join(' ');
    expect(redisCmd).toMatch(/--maxmemory-policy noeviction/);
    expect(redisCmd).toMatch(/--appendonly yes/);
  });

  test("Prometheus' config passes promtool check config (rules from the chart's single source) and scrapes every service on its metrics port", () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-compose-prom-'));
    try {
      const promText = readFileSync(join(REPO_ROOT, 'docker', 'prometheus', 'prometheus.yml'), 'utf8');
      const prom = parse(promText) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }>; dns_sd_configs?: Array<{ names: string[]; port: number }> }> };
      // The compose volumes map the rule file: check config with the same file at the path Prometheus would see.
      const prometheus = compose.services.prometheus!;
      for (const v of prometheus.volumes ?? []) {
        const [host, inContainer] = v.split(':');
        if (inContainer === prom.rule_files[0]) {
          expect(existsSync(join(REPO_ROOT, host!))).toBe(true);
          cpSync(join(REPO_ROOT, host!), join(dir, 'rules.yaml'));
        }
      }
      expect(existsSync(join(dir, 'rules.yaml'))).toBe(true);
      writeFileSync(join(dir, 'prometheus.yml'), promText.replace(prom.rule_files[0]!, join(dir, 'rules.yaml')));
      const r = spawnSync(which('promtool'), ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
      const scraped = new Map<string, number>();
      for (const sc of prom.scrape_configs) {
        for (const st of sc.static_configs ?? []) for (const t of st.targets) scraped.set(t.split(':')[0]!, Number(t.split(':')[1]));
        for (const dns of sc.dns_sd_configs ?? []) for (const n of dns.names) scraped.set(n, dns.port);
      }
      for (const [name, s] of ours) expect({ name, port: scraped.get(name) }).toEqual({ name, port: Number(s.environment!.PORT) });
      // The exporter job's name matches what StreamWorkersExporterDown selects (up{job=~".*lag-exporter.*"}).
      expect(prom.scrape_configs.some((sc) => /lag-exporter/.test(sc.job_name))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Grafana is provisioned with the Prometheus data source and the chart\'s dashboard directory', () => {
    const grafana = compose.services.grafana!;
    const mounts = new Map((grafana.volumes ?? []).map((v) => [v.split(':')[1]!, v.split(':')[0]!]));
    const provider = parse(readFileSync(join(REPO_ROOT, 'docker', 'grafana', 'provisioning', 'dashboards', 'stream-workers.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
    const dashDir = mounts.get(provider.providers[0]!.options.path);
    expect(dashDir).toBe('./charts/stream-workers/dashboards');
    expect(existsSync(join(REPO_ROOT, dashDir!, 'stream-workers.json'))).toBe(true);
    const ds = parse(readFileSync(join(REPO_ROOT, 'docker', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: Array<{ type: string; url: string }> };
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
  });
});

describe('scripts/e2e-kind.sh and scripts/build-images.sh (need Docker and kind; checked without them)', () => {
  const script = readFileSync(join(REPO_ROOT, 'scripts', 'e2e-kind.sh'), 'utf8');

  test('bash accepts both scripts', () => {
    for (const s of ['e2e-kind.sh', 'build-images.sh']) {
      const r = spawnSync('bash', ['-n', join(REPO_ROOT, 'scripts', s)], { encoding: 'utf8' });
      expect({ s, status: r.status, stderr: r.stderr }).toEqual({ s, status: 0, stderr: '' });
    }
  });

  test('the values e2e-kind.sh installs with pass the chart schema, and the objects it waits on exist under the names it uses', () => {
    const defaults: Record<string, string> = { IMAGE: 'stream-workers', TAG: 'e2e', STREAM: 'events', GROUP: 'workers', MAX_REPLICAS: '5', RELEASE: 'sw', NS: 'stream-workers-e2e' };
    const expand = (s: string) => s.replace(/\$\{?([A-Z_]+)\}?/g, (_, v: string) => defaults[v] ?? `<${v}>`).replace(/"/g, '');
    const install = /helm upgrade --install[\s\S]*?\n\n/.exec(script)![0];
    const sets = [...install.matchAll(/--set (\S+)/g)].map((m) => expand(m[1]!));
    expect(sets.length).toBeGreaterThan(10);
    expect(sets.every((s) => !s.includes('<'))).toBe(true);
    const objs = render({ release: defaults.RELEASE, namespace: defaults.NS, set: sets });
    const names = (kind: string) => find(objs, kind).map((o) => o.metadata.name);
    const redisPod = expand(/REDIS_POD=(\S+)/.exec(script)![1]!);
    expect(redisPod).toMatch(/-0$/);
    expect(names('StatefulSet')).toContain(redisPod.replace(/-0$/, ''));
    const worker = expand(/WORKER=deploy\/(\S+)/.exec(script)![1]!);
    expect(names('Deployment')).toContain(worker);
    for (const m of script.matchAll(/deploy\/\$RELEASE-([a-z-]+)/g)) expect(names('Deployment')).toContain(`${defaults.RELEASE}-${m[1]}`);
    // The worker Deployment has no replicas (the built-in autoscaler owns it) and the autoscaler runs.
    expect('replicas' in (one(objs, 'Deployment', '-worker') as K8sObject & { spec: object }).spec).toBe(false);
    one(objs, 'Deployment', '-autoscaler');
    // The image the script loads into kind is the one the chart runs for Redis and for the services.
    const redisImage = /docker pull -q (\S+)/.exec(script)![1]!;
    const sts = one(objs, 'StatefulSet') as K8sObject & { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
    expect(sts.spec.template.spec.containers[0]!.image).toBe(redisImage);
    const w = one(objs, 'Deployment', '-worker') as K8sObject & { spec: { template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } } } };
    expect(w.spec.template.spec.containers[0]).toMatchObject({ image: `${defaults.IMAGE}:${defaults.TAG}`, imagePullPolicy: 'Never' });
  });

  test('it asserts no loss and the scale up and back down, and cleans up after itself', () => {
    expect(script).toMatch(/entries-read/);
    expect(script).toMatch(/XLEN "\$STREAM:dlq"/);
    expect(script).toMatch(/peak" -ge 2/);
    expect(script).toMatch(/until \[ "\$\(kubectl .*jsonpath='\{\.spec\.replicas\}'\)" = 0 \]/);
    expect(script).toMatch(/trap cleanup EXIT/);
    expect(existsSync(CHART_DIR)).toBe(true);
  });
});
