import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../src/metrics';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const OBSERVED: Array<['ok' | 'retry', number]> = [['ok', 0.0005], ['ok', 0.001], ['ok', 0.05], ['retry', 2], ['ok', 0.1], ['retry', 0.009]];

describe('hot-path metrics render exactly like prom-client', () => {
  test('HotHistogram: same exposition text as a prom-client Histogram with the same observations', async () => {
    const a = new Registry();
    const b = new Registry();
    const hot = new HotHistogram({ name: 'x_seconds', help: 'h', labelName: 'outcome', labelValues: ['ok', 'retry'] as const, buckets: BUCKETS, registers: [a] });
    const ref = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['outcome'], buckets: BUCKETS, registers: [b] });
    for (const [o, v] of OBSERVED) {
      hot.child(o).observe(v);
      ref.labels(o).observe(v);
    }
    const text = await a.metrics();
    expect(text).toBe(await b.metrics());
    expect(text).toContain('x_seconds_bucket{le="0.001",outcome="ok"} 2');
    expect(text).toContain('x_seconds_bucket{le="+Inf",outcome="retry"} 2');
    expect(text).toContain('x_seconds_count{outcome="ok"} 4');
  });

  test('HotCounter: same exposition text as a prom-client Counter, every label value present from the start', async () => {
    const a = new Registry();
    const b = new Registry();
    const hot = new HotCounter({ name: 'y_total', help: 'c', labelName: 'outcome', labelValues: ['ok', 'retry', 'dead_letter'] as const, registers: [a] });
    const ref = new Counter({ name: 'y_total', help: 'c', labelNames: ['outcome'], registers: [b] });
    for (const o of ['ok', 'retry', 'dead_letter']) ref.labels(o).inc(0);
    hot.child('ok').inc();
    hot.child('ok').inc(4);
    ref.labels('ok').inc(5);
    expect(await a.metrics()).toBe(await b.metrics());
    expect(await a.metrics()).toContain('y_total{outcome="dead_letter"} 0');
    expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
  });
});
