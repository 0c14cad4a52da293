/**
 * The exporter's metrics as prom-client sees them: gauges whose values come from a scrape at collect
 * time. A prom-client metric is any object with name/help/type/get(); `getForPromString()`, when
 * present, is what the text exposition uses (here the one-pass rendering of text-cache.ts,
 * {@link RenderedMetric}), `get()` what `getMetricsAsJSON()` uses (one value per series).
 */
import type { Metric, Registry } from 'prom-client';
import { METRIC_PREFIX } from '@stream-workers/core';
import { GROUP_METRICS, type RenderedMetric, type RenderedScrape } from './text-cache';
import type { ScrapeOutcome } from './collector';
import { SHARDED_GROUP_METRICS, shardedTotals } from './shard-totals';

/** A label set as prom-client passes it (the JSON view, {@link GaugeSnapshot}). */
type Labels = Record<string, string>;
const NO_LABELS: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** What a prom-client metric's `get()` resolves to. */
interface GaugeSnapshot {
  name: string;
  help: string;
  type: 'gauge';
  aggregator: 'sum';
  values: Array<{ value: number; labels: Labels | Record<string, never>; sharedLabels?: Record<string, never>; metricName?: string }>;
}

/**
 * Registers the exporter's gauges in `registry`: each collect() calls `scrape()` (the calls of one
 * scrape share one read) and renders text from `rendered(outcome)`.
 */
export function registerScrapeGauges(registry: Registry, scrape: () => Promise<ScrapeOutcome>, rendered: (o: ScrapeOutcome & { ok: true }) => RenderedScrape, shards = 1): void {
  const gauge = (name: string, help: string, samples: (o: ScrapeOutcome) => GaugeSnapshot['values'], text?: (r: RenderedScrape) => RenderedMetric | undefined): void => {
    const full = `${METRIC_PREFIX}${name}`;
    const snapshot = (values: GaugeSnapshot['values']): GaugeSnapshot => ({ name: full, help, type: 'gauge', aggregator: 'sum', values });
    const metric = {
      name: full,
      help,
      type: 'gauge',
      aggregator: 'sum',
      get: async () => snapshot(samples(await scrape())),
      ...(text && {
        getForPromString: async () => {
          const o = await scrape();
          const r = o.ok ? text(rendered(o)) : undefined;
          return snapshot(r ? [{ value: r.value, labels: NO_LABELS, sharedLabels: NO_LABELS, metricName: r.metricName }] : []);
        },
      }),
    };
    // The Metric type lists only prom-client's own classes.
    registry.registerMetric(metric as unknown as Metric);
  };
  gauge('exporter_up', '1 when the last scrape read Redis within SCRAPE_TIMEOUT_MS, else 0 (and no stream or group series)', (o) => [{ value: o.ok ? 1 : 0, labels: NO_LABELS }]);
  gauge('exporter_scrape_duration_seconds', 'Duration of the Redis reads (discovery included) of this scrape, in seconds', (o) => [{ value: o.durationSeconds, labels: NO_LABELS }]);
  gauge(
    'stream_length',
    'Entries in the stream (XLEN)',
    (o) => (o.ok ? o.streams.map((st) => ({ value: st.length, labels: { stream: st.stream } })) : []),
    (r) => r.streamLength,
  );
  GROUP_METRICS.forEach((m, i) => {
    gauge(
      m.name,
      m.help,
      (o) => (o.ok ? o.streams.flatMap((st) => st.groups.map((g) => ({ value: m.value(g), labels: { stream: g.stream, group: g.group } }))) : []),
      (r) => r.groups[i],
    );
  });
  if (shards <= 1) return;
  // Sharded streams (STREAM_SHARDS): the pool's totals beside the per-shard series (few series: plain gauges).
  const totals = new WeakMap<ScrapeOutcome, ReturnType<typeof shardedTotals>>();
  const totalsOf = (o: ScrapeOutcome & { ok: true }): ReturnType<typeof shardedTotals> => {
    let t = totals.get(o);
    if (!t) totals.set(o, (t = shardedTotals(o.streams, shards)));
    return t;
  };
  gauge('sharded_stream_shards', 'Shards of a sharded stream found by this scrape (STREAM_SHARDS expected)', (o) => (o.ok ? totalsOf(o).map((t) => ({ value: t.shards, labels: { stream: t.stream } })) : []));
  gauge('sharded_stream_length', 'Entries over every shard of a sharded stream', (o) => (o.ok ? totalsOf(o).map((t) => ({ value: t.length, labels: { stream: t.stream } })) : []));
  for (const m of SHARDED_GROUP_METRICS) {
    gauge(m.name, m.help, (o) => (o.ok ? totalsOf(o).flatMap((t) => t.groups.map((g) => ({ value: m.value(g), labels: { stream: t.stream, group: g.group } }))) : []));
  }
}
