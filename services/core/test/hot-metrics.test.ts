/**
 * HotCounter / HotHistogram against prom-client's own Counter / Histogram, byte for byte, in both
 * exposition formats (Prometheus text 0.0.4 and OpenMetrics 1.0), in JSON, and after
 * `registry.resetMetrics()`. The prom-client references export every label value from the start
 * (`inc(0)` / `zero()`), as the hot classes do.
 */
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { HotCounter, HotHistogram } from '../src/metrics';

/** prom-client's typings omit the Registry constructor's content-type argument (its JavaScript takes it). */
const RegistryOf = Registry as unknown as new (contentType: RegistryContentType) => Registry;

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED: Array<['ok' | 'retry', number]> = [['ok', 0.0005], ['ok', 0.001], ['ok', 0.05], ['retry', 2], ['ok', 0.1], ['retry', 0.009]];
const OUTCOMES = ['ok', 'retry', 'dead_letter'] as const;
const FORMATS: Array<[string, RegistryContentType]> = [
  ['Prometheus text', Registry.PROMETHEUS_CONTENT_TYPE],
  ['OpenMetrics', Registry.OPENMETRICS_CONTENT_TYPE],
];

/** A hot histogram and a prom-client one, each in a registry of its own of `format`. */
function histograms(format: RegistryContentType) {
  const a = new RegistryOf(format);
  const b = new RegistryOf(format);
  const hot = new HotHistogram({ name: 'x_seconds', help: 'h', labelName: 'outcome', labelValues: OUTCOMES, buckets: BUCKETS, registers: [a] });
  const ref = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['outcome'], buckets: BUCKETS, registers: [b] });
  const zeroRef = (): void => OUTCOMES.forEach((o) => ref.zero({ outcome: o }));
  zeroRef();
  return { a, b, hot, ref, zeroRef };
}

/** A hot counter and a prom-client one (named `x_events_total`), each in a registry of its own of `format`. */
function counters(format: RegistryContentType) {
  const a = new RegistryOf(format);
  const b = new RegistryOf(format);
  const hot = new HotCounter({ name: 'x_events_total', help: 'c', labelName: 'outcome', labelValues: OUTCOMES, registers: [a] });
  const ref = new Counter({ name: 'x_events_total', help: 'c', labelNames: ['outcome'], registers: [b] });
  const zeroRef = (): void => OUTCOMES.forEach((o) => ref.labels(o).inc(0));
  zeroRef();
  return { a, b, hot, ref, zeroRef };
}

describe.each(FORMATS)('hot-path metrics render exactly like prom-client (%s)', (_label, format) => {
  test('HotHistogram: same exposition text as a prom-client Histogram with the same observations', async () => {
    const { a, b, hot, ref } = histograms(format);
    for (const [o, v] of OBSERVED) {
      hot.child(o).observe(v);
      ref.labels(o).observe(v);
    }
    const text = await a.metrics();
    expect(text).toBe(await b.metrics());
    expect(text).toContain('x_seconds_bucket{le="0.001",outcome="ok"} 2');
    expect(text).toContain('x_seconds_bucket{le="+Inf",outcome="retry"} 2');
    expect(text).toContain('x_seconds_count{outcome="ok"} 4');
    expect(text).toContain('x_seconds_count{outcome="dead_letter"} 0');
  });

  test('HotCounter: same exposition text and JSON as a prom-client Counter, every label value present from the start', async () => {
    const { a, b, hot, ref } = counters(format);
    hot.child('ok').inc();
    hot.child('ok').inc(4);
    ref.labels('ok').inc(5);
    const text = await a.metrics();
    expect(text).toBe(await b.metrics());
    expect(text).toContain('x_events_total{outcome="dead_letter"} 0');
    expect(text).toContain('x_events_total{outcome="ok"} 5');
    expect(text).not.toContain('_total_total');
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
    // Rendering twice changes nothing (an OpenMetrics registry rewrites a counter's name when rendering).
    expect(await a.metrics()).toBe(text);
  });

  test('registry.resetMetrics(): both hot classes go back to 0 with every label value exported, like prom-client reset and re-zeroed; counting goes on after', async () => {
    const h = histograms(format);
    const c = counters(format);
    for (const [o, v] of OBSERVED) {
      h.hot.child(o).observe(v);
      h.ref.labels(o).observe(v);
      c.hot.child(o).inc();
      c.ref.labels(o).inc();
    }
    for (const r of [h.a, h.b, c.a, c.b]) r.resetMetrics();
    h.zeroRef();
    c.zeroRef();
    expect(await h.a.metrics()).toBe(await h.b.metrics());
    expect(await c.a.metrics()).toBe(await c.b.metrics());
    expect(await h.a.metrics()).toContain('x_seconds_count{outcome="ok"} 0');
    expect(await c.a.metrics()).toContain('x_events_total{outcome="ok"} 0');
    h.hot.child('retry').observe(0.05);
    h.ref.labels('retry').observe(0.05);
    c.hot.child('retry').inc(2);
    c.ref.labels('retry').inc(2);
    expect(await h.a.metrics()).toBe(await h.b.metrics());
    expect(await c.a.metrics()).toBe(await c.b.metrics());
    expect(await c.a.metrics()).toContain('x_events_total{outcome="retry"} 2');
  });
});
