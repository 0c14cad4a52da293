import { Registry, collectDefaultMetrics } from 'prom-client';

/** The prefix of every metric of this project (docs/design.md, "Metrics"). */
export const METRIC_PREFIX = 'stream_workers_';

/** Options for {@link createRegistry}. */
export interface RegistryOptions {
  /** Collect Node.js process metrics (heap, event loop lag, GC) into this registry; default true. */
  processMetrics?: boolean;
}

/** A fresh prom-client registry (never the global one), so tests and embedded services stay apart.
 * No default labels: Prometheus adds `job`/`instance`/`pod` from the scrape target. */
export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** The shape prom-client's Registry renders (what `Metric.get()` resolves to). */
interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
}

/**
 * Registers an object that renders like a prom-client metric (prom-client types accept only its own
 * classes). What a Registry needs of a metric: `name` (writable: an OpenMetrics registry strips a
 * counter's `_total` from it before rendering, then appends `_total` to each sample), `type`, `get()`
 * and `reset()` (`registry.resetMetrics()`).
 */
function register(registry: Registry, metric: { name: string; type: string; get(): Promise<MetricSnapshot>; reset(): void }): void {
  // `any`: Registry.registerMetric is typed for prom-client's classes, but only reads `name` and `get()`.
  registry.registerMetric(metric as any);
}

/**
 * A counter with one label and a fixed set of values, for per-event hot paths: `child(v).inc()` is
 * one addition on a plain object (prom-client hashes the label set at every `inc`). Renders exactly
 * like a prom-client Counter; every value is exported from the start (at 0).
 */
export class HotCounter<V extends string> {
  /** The metric's name; a Registry may rewrite it (OpenMetrics drops `_total`, as it does for prom-client's Counter). */
  name: string;
  readonly type = 'counter';
  private readonly children = new Map<V, { n: number; inc(by?: number): void }>();

  constructor(private readonly o: { name: string; help: string; labelName: string; labelValues: readonly V[]; registers: Registry[] }) {
    this.name = o.name;
    for (const v of o.labelValues) {
      const child = {
        n: 0,
        inc(by = 1) {
          child.n += by;
        },
      };
      this.children.set(v, child);
    }
    for (const r of o.registers) register(r, this);
  }

  child(value: V): { inc(by?: number): void } {
    return this.children.get(value)!;
  }

  /** Back to 0 (`registry.resetMetrics()`); every label value stays exported, as after construction. */
  reset(): void {
    for (const c of this.children.values()) c.n = 0;
  }

  async get(): Promise<MetricSnapshot> {
    const values = [...this.children].map(([v, c]) => ({ value: c.n, labels: { [this.o.labelName]: v } }));
    return { name: this.name, help: this.o.help, type: 'counter', aggregator: 'sum', values };
  }
}

/** One label value's series of a {@link HotHistogram}. */
class HotHistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) this.counts[i]! += 1;
    this.sum += v;
    this.count += 1;
  }
}

/**
 * A histogram with one label and a fixed set of values, for per-event hot paths: `child(v).observe(x)`
 * is a bucket search and three additions (prom-client hashes the label set at every observation).
 * Renders exactly like a prom-client Histogram (`_bucket{le}` cumulative, `+Inf`, `_sum`, `_count`).
 */
export class HotHistogram<V extends string> {
  readonly name: string;
  readonly type = 'histogram';
  private readonly children = new Map<V, HotHistogramChild>();
  private readonly bounds: number[];

  constructor(private readonly o: { name: string; help: string; labelName: string; labelValues: readonly V[]; buckets: readonly number[]; registers: Registry[] }) {
    this.name = o.name;
    this.bounds = [...o.buckets].sort((a, b) => a - b);
    for (const v of o.labelValues) this.children.set(v, new HotHistogramChild(this.bounds));
    for (const r of o.registers) register(r, this);
  }

  child(value: V): { observe(v: number): void } {
    return this.children.get(value)!;
  }

  /** Back to 0 (`registry.resetMetrics()`); every label value stays exported, as after construction. */
  reset(): void {
    for (const c of this.children.values()) c.reset();
  }

  async get(): Promise<MetricSnapshot> {
    const values: MetricSnapshot['values'] = [];
    for (const [v, c] of this.children) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += c.counts[i]!;
        values.push({ metricName: `${this.o.name}_bucket`, value: cumulative, labels: { le: this.bounds[i]!, [this.o.labelName]: v } });
      }
      values.push({ metricName: `${this.o.name}_bucket`, value: c.count, labels: { le: '+Inf', [this.o.labelName]: v } });
      values.push({ metricName: `${this.o.name}_sum`, value: c.sum, labels: { [this.o.labelName]: v } });
      values.push({ metricName: `${this.o.name}_count`, value: c.count, labels: { [this.o.labelName]: v } });
    }
    return { name: this.o.name, help: this.o.help, type: 'histogram', aggregator: 'sum', values };
  }
}
