/**
 * The collector renders its stream and group series itself (one pass, prom-client's
 * `getForPromString()`): the text must be byte for byte what prom-client renders from one value per
 * series (`get()`, also what `getMetricsAsJSON()` shows), label escaping included. Shared Redis,
 * unique keys, a fixed clock.
 */
import { Registry, type Metric } from 'prom-client';
import { createRegistry } from '@stream-workers/core';
import { LagCollector } from '../src/collector';
import { useSharedRedis } from '../../../test-support/redis';
import { captureLogger } from './support/metrics';

const NOW = 1_700_000_000_000;
const at = (s: number): string => `${NOW - s * 1000}-0`;
const { prefix, redis } = useSharedRedis('lagx-render');

/** The same metrics as `registry`'s, rendered by prom-client from their `get()` (one value per series). */
function genericTwin(registry: Registry): Registry {
  const twin = new Registry();
  for (const m of registry.getMetricsAsArray()) {
    const { name, help, type, aggregator, get } = m as unknown as { name: string; help: string; type: string; aggregator: string; get(): Promise<unknown> };
    twin.registerMetric({ name, help, type, aggregator, get: () => get.call(m) } as unknown as Metric);
  }
  return twin;
}

const withoutDuration = (text: string): string => text.replace(/^stream_workers_exporter_scrape_duration_seconds .*$/m, 'DURATION');

test.each(['resp', 'auto', 'commands'] as const)('[%s] text of the one-pass rendering = prom-client\'s own rendering (quotes, backslashes, newlines, UTF-8 in labels; a stream without groups)', async (mode) => {
  const a = `${prefix}:${mode}:q"uote\nline żółć`;
  const b = `${prefix}:${mode}:plain`;
  const c = `${prefix}:${mode}:no-groups`;
  for (const s of [a, b]) {
    for (const age of [50, 40, 30.5, 20, 10]) await redis.xadd(s, `${NOW - age * 1000}-0`, 'n', String(age));
    await redis.xgroup('CREATE', s, 'back\\slash "g"\nnew', '0');
    await redis.xgroup('CREATE', s, 'żółć', '$');
    await redis.xgroup('CREATE', s, 'plain', '0');
    await redis.xreadgroup('GROUP', 'plain', 'c1', 'COUNT', 2, 'STREAMS', s, '>');
  }
  await redis.xadd(c, at(5), 'n', '1');
  const registry = createRegistry({ processMetrics: false });
  const { logger } = captureLogger();
  const collector = new LagCollector({ redis, registry, logger, streams: [a, b, c], now: () => NOW, mode });
  try {
    const text = await registry.metrics();
    expect(text).toContain(`stream_workers_group_lag_seconds{stream="${prefix}:${mode}:q\\"uote\\nline żółć",group="back\\\\slash \\"g\\"\\nnew"} 50`);
    expect(text).toContain(`stream_workers_group_lag_seconds{stream="${b}",group="plain"} 30.5`);
    expect(text).toContain(`stream_workers_stream_length{stream="${c}"} 1`);
    expect(withoutDuration(text)).toBe(withoutDuration(await genericTwin(registry).metrics()));

    const json = await registry.getMetricsAsJSON();
    const lag = json.find((m) => m.name === 'stream_workers_group_lag')!;
    expect(lag.values).toHaveLength(6);
    expect(lag.values).toContainEqual({ value: 3, labels: { stream: b, group: 'plain' } });

    // A failed scrape: exporter_up 0 and the stream and group metrics without a series, in both renderings.
    collector.close();
    const failed = await registry.metrics();
    expect(failed).toMatch(/^stream_workers_exporter_up 0$/m);
    expect(failed).not.toMatch(/^stream_workers_(group|stream)_\w+\{/m);
    expect(withoutDuration(failed)).toBe(withoutDuration(await genericTwin(registry).metrics()));
  } finally {
    collector.close();
  }
});
