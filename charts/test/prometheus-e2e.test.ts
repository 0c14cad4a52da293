/**
 * A real Prometheus (Debian's package) end to end: it scrapes a running lag exporter
 * (`node services/lag-exporter/dist/main.js` against the shared Redis, one unique stream), with the
 * chart's alert rules loaded (a test copy whose `for:` durations are shortened to a few seconds;
 * thresholds and expressions unchanged). A backlog whose oldest entry is 10 minutes old is built,
 * StreamWorkersBacklogAgeHigh must become firing in /api/v1/alerts, then the backlog is drained
 * (read and acked as a worker would) and the alert must resolve.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { deleteKeys, freePort, SHARED_REDIS_URL, uniquePrefix } from '../../test-support/redis';
import { startService, waitFor, type ServiceProcess } from '../../test-support/process';
import { CHART_DIR, REPO_ROOT } from './support/helm';
import { which } from './support/promtool';

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

const EXPORTER_SRC = join(REPO_ROOT, 'services', 'lag-exporter', 'src', 'main.ts');
const EXPORTER_MAIN = join(REPO_ROOT, 'services', 'lag-exporter', 'dist', 'main.js');
const BACKLOG = 300;
const AGE_MS = 10 * 60_000; // older than the alert's 300 s threshold

describe('Prometheus + lag exporter + alert rules', () => {
  const prefix = uniquePrefix('prom-e2e');
  const stream = `${prefix}:events`;
  const group = 'workers';
  let redis: Redis;
  let exporter: ServiceProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let promLog = '';
  let dir: string;
  let promUrl: string;

  beforeAll(async () => {
    if (!existsSync(EXPORTER_SRC)) throw new Error(`${EXPORTER_SRC} is missing: the lag exporter is needed for this test`);
    // Build the exporter (incremental: fast when already built).
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'services/lag-exporter'], { cwd: REPO_ROOT, stdio: 'pipe' });
    expect(existsSync(EXPORTER_MAIN)).toBe(true);
    redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
    await redis.connect();
    // The group starts before the backlog: every entry added below is lag.
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');

    const exporterPort = await freePort();
    exporter = startService('lag-exporter', { REDIS_URL: SHARED_REDIS_URL, PORT: String(exporterPort), STREAMS: stream, LOG_LEVEL: 'warn' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${exporterPort}/readyz`).catch(() => undefined))?.ok, 30_000, 200, 'exporter /readyz');

    dir = mkdtempSync(join(tmpdir(), 'sw-prom-'));
    // Test copy of the rules: `for:` shortened, everything else as shipped.
    const rules = readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8').replace(/^(\s+for:) \S+$/gm, '$1 2s');
    expect(rules).not.toMatch(/for: \d+m/);
    writeFileSync(join(dir, 'rules.yaml'), rules);
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
        'rule_files: [rules.yaml]',
        'scrape_configs:',
        '  - job_name: lag-exporter',
        `    static_configs: [{ targets: ['127.0.0.1:${exporterPort}'] }]`,
        '',
      ].join('\n'),
    );
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(which('prometheus'), [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr!.setEncoding('utf8').on('data', (c: string) => (promLog = (promLog + c).slice(-4000)));
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 60_000, 250, `prometheus ready (log: ${promLog})`);
  });

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    exporter?.kill('SIGTERM');
    await exporter?.exited;
    if (prometheus && prometheus.exitCode === null) await new Promise((r) => prometheus!.once('exit', r));
    if (redis) {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const lagAlerts = async (): Promise<PromAlert[]> => {
    const res = await fetch(`${promUrl}/api/v1/alerts`);
    const body = (await res.json()) as { data: { alerts: PromAlert[] } };
    return body.data.alerts.filter((a) => a.labels.alertname === 'StreamWorkersBacklogAgeHigh' && a.labels.stream === stream);
  };
  const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    return ((await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
  };

  test('the lag alert fires on a real backlog and resolves after it drains', async () => {
    // Prometheus scrapes the exporter, and the rules are loaded.
    await waitFor(async () => (await query('up{job="lag-exporter"} == 1')).length === 1, 30_000, 250, 'exporter target up');
    const rulesRes = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string }> }> } };
    expect(rulesRes.data.groups.flatMap((g) => g.rules.map((r) => r.name))).toContain('StreamWorkersBacklogAgeHigh');
    expect(await lagAlerts()).toEqual([]);

    // A backlog whose oldest entry is 10 minutes old (stream ids carry the time).
    const t0 = Date.now() - AGE_MS;
    const pipe = redis.pipeline();
    for (let i = 0; i < BACKLOG; i++) {
      pipe.xadd(stream, `${t0 + i}-0`, 'specversion', '1.0', 'id', `e${i}`, 'source', '/e2e', 'type', 'e2e.backlog', 'time', new Date(t0 + i).toISOString(), 'datacontenttype', 'application/json', 'data', JSON.stringify({ i }));
    }
    await pipe.exec();

    const firing = await waitFor(async () => (await lagAlerts()).find((a) => a.state === 'firing'), 60_000, 500, `StreamWorkersBacklogAgeHigh firing (prometheus log: ${promLog})`);
    expect(firing?.labels).toMatchObject({ alertname: 'StreamWorkersBacklogAgeHigh', stream, group, severity: 'warning' });
    const age = await query(`stream_workers_group_lag_seconds{stream="${stream}"}`);
    expect(Number(age[0]!.value[1])).toBeGreaterThan(300);
    const outstanding = await query(`stream_workers_group_outstanding{stream="${stream}"}`);
    expect(Number(outstanding[0]!.value[1])).toBe(BACKLOG);

    // Drain it as a worker would: read through the group and ack.
    for (let round = 0; round < 20; round++) {
      const res = (await redis.xreadgroup('GROUP', group, 'e2e-worker', 'COUNT', 100, 'STREAMS', stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      const ids = res?.[0]?.[1].map(([id]) => id) ?? [];
      if (ids.length === 0) break;
      await redis.xack(stream, group, ...ids);
    }
    const [info] = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    const fields = new Map<unknown, unknown>();
    for (let i = 0; i + 1 < (info ?? []).length; i += 2) fields.set(info![i], info![i + 1]);
    expect({ pending: fields.get('pending'), lag: fields.get('lag') }).toEqual({ pending: 0, lag: 0 });

    await waitFor(async () => (await lagAlerts()).length === 0, 60_000, 500, 'StreamWorkersBacklogAgeHigh resolved');
    await waitFor(async () => {
      const r = await query(`stream_workers_group_outstanding{stream="${stream}"}`);
      return r.length === 1 && Number(r[0]!.value[1]) === 0;
    }, 30_000, 250, 'outstanding back to 0 in Prometheus');
  });
});
