import { Registry, collectDefaultMetrics } from 'prom-client';

/** The prefix of every metric of this project (DESIGN.md). */
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
