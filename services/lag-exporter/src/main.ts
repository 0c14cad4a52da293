#!/usr/bin/env node
/**
 * The lag exporter binary: `node services/lag-exporter/dist/main.js`. Reads its environment
 * (config.ts), serves `/metrics` (read from Redis at scrape time), `/api/v1/backlog`, `/livez` and
 * `/readyz` (and KEDA's external scaler over gRPC when GRPC_PORT is set) until SIGTERM/SIGINT.
 */
import { describeRedis, runService } from '@stream-workers/core';
import { collectDefaultMetrics } from 'prom-client';
import { lagExporterConfig } from './config';
import { LagExporter } from './app';
import { ExternalScalerServer } from './external-scaler';

void runService({
  name: 'lag-exporter',
  config: lagExporterConfig,
  // The process metrics are registered after the exporter's own: prom-client collects metrics in
  // registration order, so a scrape starts its Redis read first and collects the process metrics while
  // Redis works, instead of before sending anything.
  processMetrics: false,
  shutdownDeadlineMs: (config) => Math.max(10_000, config.scrapeTimeoutMs + 5000),
  build({ config, logger, registry, shutdown, redis }) {
    const exporter = new LagExporter({
      redis: redis(),
      registry,
      logger,
      port: config.port,
      streams: config.streams,
      groups: config.groups,
      scrapeTimeoutMs: config.scrapeTimeoutMs,
      discoveryIntervalMs: config.discoveryIntervalMs,
      countLimit: config.lagCountLimit,
      shards: config.streamShards,
    });
    const scaler =
      config.grpcPort > 0
        ? new ExternalScalerServer({ redis: redis(), logger, port: config.grpcPort, streams: config.streams, groups: config.groups, countLimit: config.lagCountLimit, shards: config.streamShards })
        : undefined;
    collectDefaultMetrics({ register: registry });
    shutdown.add('external scaler', () => scaler?.close()).add('http server', () => exporter.close());
    return {
      listen: async () => {
        const port = await exporter.listen();
        if (scaler) await scaler.listen();
        return port;
      },
      start: () => ({
        redis: describeRedis(config.redis),
        streams: config.streams,
        streamShards: config.streamShards,
        groups: config.groups.length > 0 ? config.groups : 'all',
        scrapeTimeoutMs: config.scrapeTimeoutMs,
        discoveryIntervalMs: config.discoveryIntervalMs,
        lagCountLimit: config.lagCountLimit,
        externalScaler: scaler ? { grpcPort: config.grpcPort } : false,
      }),
    };
  },
});
