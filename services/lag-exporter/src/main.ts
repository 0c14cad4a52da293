#!/usr/bin/env node
/**
 * The lag exporter binary: `node services/lag-exporter/dist/main.js`. Reads its environment
 * (config.ts), serves `/metrics` (read from Redis at scrape time), `/api/v1/backlog`, `/livez` and
 * `/readyz` until SIGTERM/SIGINT.
 */
import {
  Shutdown,
  closeRedis,
  createLogger,
  createRedis,
  createRegistry,
  describeStartupError,
  redactUrl,
  signalHandler,
  startupExitCode,
} from '@stream-workers/core';
import { collectDefaultMetrics } from 'prom-client';
import { lagExporterConfig } from './config';
import { LagExporter } from './app';
import { ExternalScalerServer } from './external-scaler';

async function main(): Promise<void> {
  const config = lagExporterConfig.parse(process.env);
  const logger = createLogger({ service: 'lag-exporter', level: config.logLevel });
  // The process metrics are registered after the exporter's own: prom-client collects metrics in
  // registration order, so a scrape starts its Redis read first and collects the process metrics while
  // Redis works, instead of before sending anything.
  const registry = createRegistry({ processMetrics: false });
  const redis = createRedis({ url: config.redisUrl, role: 'command', name: 'lag-exporter', logger });
  const exporter = new LagExporter({
    redis,
    registry,
    logger,
    port: config.port,
    streams: config.streams,
    groups: config.groups,
    scrapeTimeoutMs: config.scrapeTimeoutMs,
    discoveryIntervalMs: config.discoveryIntervalMs,
    countLimit: config.lagCountLimit,
  });
  const scaler =
    config.grpcPort > 0
      ? new ExternalScalerServer({ redis, logger, port: config.grpcPort, streams: config.streams, groups: config.groups, countLimit: config.lagCountLimit })
      : undefined;
  collectDefaultMetrics({ register: registry });
  const shutdown = new Shutdown({ logger, deadlineMs: Math.max(10_000, config.scrapeTimeoutMs + 5000) });
  shutdown.add('external scaler', () => scaler?.close()).add('http server', () => exporter.close()).add('redis', () => closeRedis(redis));
  const onSignal = signalHandler(shutdown, logger, (code) => process.exit(code));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let port: number;
  try {
    port = await exporter.listen();
    if (scaler) await scaler.listen();
  } catch (err) {
    await shutdown.run('start-up failed');
    throw err;
  }
  logger.info(
    {
      port,
      redis: redactUrl(config.redisUrl),
      streams: config.streams,
      groups: config.groups.length > 0 ? config.groups : 'all',
      scrapeTimeoutMs: config.scrapeTimeoutMs,
      discoveryIntervalMs: config.discoveryIntervalMs,
      lagCountLimit: config.lagCountLimit,
      externalScaler: scaler ? { grpcPort: config.grpcPort } : false,
    },
    'lag exporter started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${describeStartupError('lag-exporter', err)}\n`);
  process.exit(startupExitCode(err));
});
