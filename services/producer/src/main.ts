#!/usr/bin/env node
/**
 * The producer binary: `node services/producer/dist/main.js`. Reads its environment (config.ts),
 * serves `POST /v1/streams/:stream/events`, `/openapi.json`, `/livez`, `/readyz` and `/metrics` until
 * SIGTERM/SIGINT, then stops accepting, finishes in-flight requests and closes Redis.
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
import { producerConfig } from './config';
import { ProducerApp } from './app';

async function main(): Promise<void> {
  const config = producerConfig.parse(process.env);
  const logger = createLogger({ service: 'producer', level: config.logLevel });
  const registry = createRegistry();
  const redis = createRedis({ url: config.redisUrl, role: 'command', name: 'producer', logger });
  const app = new ProducerApp({
    redis,
    registry,
    logger,
    port: config.port,
    streams: config.streams,
    maxEventBytes: config.maxEventBytes,
    maxBatchBytes: config.maxBatchBytes,
    maxLen: config.maxLen,
    idempotencyTtlS: config.idempotencyTtlS,
    batchMax: config.batchMax,
    publishTimeoutMs: config.publishTimeoutMs,
  });
  const shutdown = new Shutdown({ logger, deadlineMs: Math.max(10_000, config.publishTimeoutMs + 5000) });
  shutdown.add('http server', () => app.close()).add('redis', () => closeRedis(redis));
  const onSignal = signalHandler(shutdown, logger, (code) => process.exit(code));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let port: number;
  try {
    port = await app.listen();
  } catch (err) {
    await shutdown.run('start-up failed');
    throw err;
  }
  logger.info(
    {
      port,
      redis: redactUrl(config.redisUrl),
      streams: config.streams,
      maxEventBytes: config.maxEventBytes,
      maxBatchBytes: config.maxBatchBytes,
      maxLen: config.maxLen,
      idempotencyTtlS: config.idempotencyTtlS,
      batchMax: config.batchMax,
      publishTimeoutMs: config.publishTimeoutMs,
    },
    'producer started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${describeStartupError('producer', err)}\n`);
  process.exit(startupExitCode(err));
});
