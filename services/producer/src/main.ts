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
  waitForReady,
} from '@stream-workers/core';
import { producerConfig } from './config';
import { ProducerApp } from './app';
import { createAuthenticator } from './auth';

async function main(): Promise<void> {
  const config = producerConfig.parse(process.env);
  const logger = createLogger({ service: 'producer', level: config.logLevel });
  const registry = createRegistry();
  // Before Redis: a missing or malformed token file / JWKS stops start-up, naming the file and line.
  const authenticator = createAuthenticator(config, logger);
  const redis = createRedis({ url: config.redisUrl, role: 'command', name: 'producer', logger });
  const app = new ProducerApp({
    authenticator,
    rateLimitPerS: config.rateLimitPerS,
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

  // Up to 5 s for the first connection, so the first requests are not answered 503 while it is being
  // set up; when Redis is down the producer starts anyway and answers 503 until it is back.
  const redisReady = await waitForReady(redis, 5000);
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
      redisReady,
      streams: config.streams,
      maxEventBytes: config.maxEventBytes,
      maxBatchBytes: config.maxBatchBytes,
      maxLen: config.maxLen,
      idempotencyTtlS: config.idempotencyTtlS,
      batchMax: config.batchMax,
      publishTimeoutMs: config.publishTimeoutMs,
      authMode: config.authMode,
      rateLimitPerS: config.rateLimitPerS,
    },
    'producer started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${describeStartupError('producer', err)}\n`);
  process.exit(startupExitCode(err));
});
