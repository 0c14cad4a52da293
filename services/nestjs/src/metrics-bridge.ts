import type { Registry, MetricValue } from 'prom-client';

interface Source {
  registry: Registry;
  labels: Record<string, string>;
}

/** What prom-client's Registry renders: the subset of a metric that `registerMetric` needs. */
interface ProxyMetric {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue<string>[] }>;
  reset(): void;
}

/**
 * Shows the metrics of several worker registries on one registry (the app's), each value labelled
 * with its source's labels (`stream`, `group`): every worker defines the same metric names, so they
 * cannot register on one registry themselves. One proxy metric per name; rendering asks each source.
 */
export class MetricsBridge {
  private readonly sources: Source[] = [];
  private readonly proxies = new Map<string, ProxyMetric>();

  /** @param target The registry the metrics are shown on. */
  constructor(private readonly target: Registry) {}

  /** Adds a source registry; its metrics (registered by now) appear on the target. */
  async add(registry: Registry, labels: Record<string, string>): Promise<void> {
    this.sources.push({ registry, labels });
    for (const metric of registry.getMetricsAsArray()) {
      const name = metric.name;
      if (this.proxies.has(name)) continue;
      // Help and type as the metric renders them (the hot-path metrics of core keep them only there).
      const m = await (metric as unknown as { get(): Promise<{ help: string; type: unknown; aggregator: unknown }> }).get();
      const sources = this.sources;
      const proxy: ProxyMetric = {
        name,
        help: m.help,
        type: String(m.type),
        aggregator: String(m.aggregator),
        async get() {
          const values: MetricValue<string>[] = [];
          for (const s of sources) {
            const metric = s.registry.getSingleMetric(name);
            if (!metric) continue;
            const got = await metric.get();
            for (const v of got.values) values.push({ ...v, labels: { ...v.labels, ...s.labels } });
          }
          return { name, help: m.help, type: String(m.type), aggregator: String(m.aggregator), values };
        },
        reset() {
          for (const s of sources) s.registry.getSingleMetric(name)?.reset();
        },
      };
      // prom-client renders any object with name/help/type/get(); its Metric type is a class union.
      this.target.registerMetric(proxy as unknown as Parameters<Registry['registerMetric']>[0]);
      this.proxies.set(name, proxy);
    }
  }

  /** Removes the proxies from the target (module shutdown). */
  close(): void {
    for (const name of this.proxies.keys()) this.target.removeSingleMetric(name);
    this.proxies.clear();
    this.sources.length = 0;
  }
}
