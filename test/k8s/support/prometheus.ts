/**
 * Debian's Prometheus on the host, discovering the release's pods through the real apiserver and
 * scraping their pod IPs on the node's bridge, with the chart's alert rules loaded.
 *
 * Debian builds Prometheus (2.42.0+ds) without the Kubernetes service discovery
 * (`kubernetes_sd_configs` is "not found in type config.ScrapeConfig"), so discovery goes through
 * `http_sd_configs` served by {@link PodDiscovery}: it lists the namespace's pods from the apiserver
 * and hands each to Prometheus with the labels `kubernetes_sd_configs` (role pod) would give it
 * (`__meta_kubernetes_namespace`, `_pod_name`, `_pod_ip`, `_pod_phase`, `_pod_label_*`,
 * `_pod_annotation_*`), so the relabelling below is the usual annotation-driven pod scrape config.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';
import { CHART_DIR, KUBECONFIG, REPO_ROOT } from './cluster';
import { which } from '../../../charts/test/support/promtool';

const sanitize = (name: string): string => name.replace(/[^a-zA-Z0-9_]/g, '_');

/** An http_sd endpoint listing a namespace's pods from the apiserver as kubernetes_sd (role pod) would. */
export class PodDiscovery {
  private server: Server | undefined;
  url = '';

  constructor(private readonly namespace: string) {}

  async start(): Promise<void> {
    this.server = createServer((_req, res) => {
      this.targets().then(
        (groups) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(groups)),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/targets`;
  }

  private async targets(): Promise<Array<{ targets: string[]; labels: Record<string, string> }>> {
    const { stdout } = await promisify(execFile)(join(REPO_ROOT, '.tools', 'bin', 'kubectl'), ['--kubeconfig', KUBECONFIG, '-n', this.namespace, 'get', 'pods', '-o', 'json'], { maxBuffer: 64 * 1024 * 1024 });
    const list = JSON.parse(stdout) as { items: Array<{ metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> }; status: { phase: string; podIP?: string } }> };
    return list.items
      .filter((p) => p.status.podIP)
      .map((p) => {
        const labels: Record<string, string> = {
          __meta_kubernetes_namespace: p.metadata.namespace,
          __meta_kubernetes_pod_name: p.metadata.name,
          __meta_kubernetes_pod_ip: p.status.podIP!,
          __meta_kubernetes_pod_phase: p.status.phase,
        };
        for (const [k, v] of Object.entries(p.metadata.labels ?? {})) labels[`__meta_kubernetes_pod_label_${sanitize(k)}`] = v;
        for (const [k, v] of Object.entries(p.metadata.annotations ?? {})) labels[`__meta_kubernetes_pod_annotation_${sanitize(k)}`] = v;
        return { targets: [p.status.podIP!], labels };
      });
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r) ?? r(undefined));
  }
}

export interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

export class HostPrometheus {
  private proc: ChildProcess | undefined;
  private dir = '';
  private log = '';
  private discovery: PodDiscovery | undefined;
  url = '';

  /**
   * `rules`: the rules file text to load (callers pass a test copy of the chart's alerts.yaml).
   * `namespace`: the only namespace discovered.
   */
  async start(rules: string, namespace: string): Promise<void> {
    this.discovery = new PodDiscovery(namespace);
    await this.discovery.start();
    this.dir = mkdtempSync(join(tmpdir(), 'sw-k8s-prom-'));
    writeFileSync(join(this.dir, 'rules.yaml'), rules);
    const sd = [`      - url: ${this.discovery.url}`, '        refresh_interval: 1s'];
    writeFileSync(
      join(this.dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
        'rule_files: [rules.yaml]',
        'scrape_configs:',
        '  - job_name: kubernetes-pods',
        '    http_sd_configs:',
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
    await this.discovery?.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The chart's alert rules file (the single source both the chart and plain Prometheus load). */
export const chartAlertRules = (): string => readFileSync(join(CHART_DIR, 'files', 'alerts.yaml'), 'utf8');
