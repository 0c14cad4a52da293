import { commonSpecs, defineConfig, int, list, streamShardsSpec, type ConfigOf } from '@stream-workers/core';

/**
 * The lag exporter's environment (docs/design.md, "Runtime contract"). `main.ts` parses it; everything
 * else takes the typed result.
 */
export const lagExporterConfig = defineConfig('lag-exporter', {
  ...commonSpecs(8082),
  streams: list('STREAMS', {
    description: 'Streams to export: names or Redis glob patterns (`events`, `orders:*`), found with `SCAN … TYPE stream`',
    default: ['*'],
  }),
  /** `STREAM_SHARDS`: export the pool totals (`sharded_*`) of streams split into this many shards. */
  streamShards: streamShardsSpec(),
  groups: list('GROUPS', {
    description: 'Consumer groups to export (exact names); unset = every group of every stream',
    default: [],
    defaultText: 'all',
  }),
  scrapeTimeoutMs: int('SCRAPE_TIMEOUT_MS', {
    description: 'Deadline of the Redis reads of one scrape; past it the scrape answers `exporter_up 0` without group series (keep it below Prometheus\' scrape_timeout)',
    default: 5000,
    min: 50,
    max: 120_000,
    unit: 'ms',
  }),
  discoveryIntervalMs: int('DISCOVERY_INTERVAL_MS', {
    description: 'How long the list of streams found by glob patterns is reused before the next `SCAN` (values are always read at scrape time); 0 = scan at every scrape',
    default: 30_000,
    min: 0,
    unit: 'ms',
  }),
  grpcPort: int('GRPC_PORT', {
    description: 'Port of the KEDA external scaler (gRPC, externalscaler.proto: IsActive, GetMetricSpec, GetMetrics, StreamIsActive; chart mode keda-external); 0 = off',
    default: 0,
    min: 0,
    max: 65_535,
  }),
  lagCountLimit: int('LAG_COUNT_LIMIT', {
    description: 'Where Redis gives no exact lag (NULL after XDEL, Redis < 7), at most this many entries per group are counted; past it the lag is extrapolated',
    default: 100,
    min: 1,
    max: 100_000,
  }),
});

export type LagExporterConfig = ConfigOf<typeof lagExporterConfig.specs>;
