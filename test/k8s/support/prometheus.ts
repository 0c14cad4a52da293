/**
 * Debian's Prometheus on the host, discovering the release's pods through the real apiserver
 * (`kubernetes_sd_configs`, role pod, the cluster's CA and the admin token) and scraping their pod
 * IPs on the node's bridge, with the chart's alert rules loaded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';
import { CHART_DIR, CLUSTER_DIR } from './cluster';
import { which } from '../../../charts/test/support/promtool';

export interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

export class HostPrometheus {
  private proc: ChildProcess | undefined;
  private dir = '';
  private log = '';
  url = '';

  /**
   * `rules`: the rules file text to load (callers pass a test copy of the chart's alerts.yaml).
   * `namespace`: the only namespace discovered.
   */
  async start(rules: string, namespace: string): Promise<void> {
    const kubeconfig = parse(readFileSync(join(CLUSTER_DIR, 'kubeconfig'), 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
      users: Array<{ user: { token: string } }>;
    };
    this.dir = mkdtempSync(join(tmpdir(), 'sw-k8s-prom-'));
    writeFileSync(join(this.dir, 'rules.yaml'), rules);
    writeFileSync(join(this.dir, 'token'), kubeconfig.users[0]!.user.token);
    const sd = [
      `      - role: pod`,
      `        api_server: ${kubeconfig.clusters[0]!.cluster.server}`,
      `        namespaces: { names: [${namespace}] }`,
      `        bearer_token_file: ${join(this.dir, 'token')}`,
      `        tls_config: { ca_file: ${join(CLUSTER_DIR, 'pki', 'ca.crt')} }`,
    ];
    writeFileSync(
      join(this.dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
        'rule_files: [rules.yaml]',
        'scrape_configs:',
        '  - job_name: kubernetes-pods',
        '    kubernetes_sd_configs:',
        ...sd,
        // The usual annotation-driven pod scrape config: prometheus.io/scrape, /port, /path.
        '    relabel_configs:',
        '      - { source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true" }',
        '      - { source_labels: [__meta_kubernetes_pod_phase], action: keep, regex: Running }',
        '      - { source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], target_label: __metrics_path__, regex: "(.+)" }',
        '      - source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]',
        '        target_label: __address__',
        '        regex: "(.+);(\\\\d+)"',
        '        replacement: "$1:$2"',
        '      - { source_labels: [__meta_kubernetes_namespace], target_label: namespace }',
        '      - { source_labels: [__meta_kubernetes_pod_name], target_label: pod }',
        '      - { source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component], target_label: component }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.proc = spawn(which('prometheus'), [`--config.file=${join(this.dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.setEncoding('utf8').on('data', (c: string) => (this.log = (this.log + c).slice(-4000)));
    await waitFor(async () => (await fetch(`${this.url}/-/ready`).catch(() => undefined))?.ok, 60_000, 250, `prometheus ready (log: ${this.log})`);
  }

  get logTail(): string {
    return this.log;
  }

  async alerts(name: string): Promise<PromAlert[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } };
    return body.data.alerts.filter((a) => a.labels.alertname === name);
  }

  async query(q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(q)}`);
    return ((await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
  }

  async stop(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc.kill('SIGTERM');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The chart's alert rules file (the single source both the chart and plain Prometheus load). */
export const chartAlertRules = (): string => readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8');
