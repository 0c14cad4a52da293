#!/usr/bin/env node
/**
 * The producer binary: `node services/producer/dist/main.js`. Reads its environment (config.ts),
 * serves `POST /v1/streams/:stream/events`, `/openapi.json`, `/livez`, `/readyz` and `/metrics` until
 * SIGTERM/SIGINT, then stops accepting, finishes in-flight requests and closes Redis.
 */
import { closeRedis, createRedis, describeRedis, keyModeOf, runService, waitForReady, type RedisConnection } from '@stream-workers/core';
import { producerConfig } from './config';
import { ProducerApp } from './app';
import { createAuthenticator } from './auth';

void runService({
  name: 'producer',
  config: producerConfig,
  shutdownDeadlineMs: (config) => Math.max(10_000, config.publishTimeoutMs + 5000),
  build({ config, logger, registry, shutdown, redis: shared }) {
    // Before Redis: a missing or malformed token file / JWKS stops start-up, naming the file and line.
    const authenticator = createAuthenticator(config, logger);
    // With PRODUCER_MIN_REPLICAS_ACK, a connection that never re-sends after a reconnect: the WAIT
    // that follows an append always runs on the connection that made it (core StreamProducer).
    let own: RedisConnection | undefined;
    if (config.minReplicasAck > 0) {
      own = createRedis({ settings: config.redis, role: 'command', name: 'producer', logger, overrides: { autoResendUnfulfilledCommands: false } });
    }
    const redis = (): RedisConnection => own ?? shared();
    const app = new ProducerApp({
      authenticator,
      rateLimitPerS: config.rateLimitPerS,
      redis: redis(),
      minReplicasAck: config.minReplicasAck,
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
      streamShards: config.streamShards,
      keyMode: keyModeOf(config.redis),
    });
    shutdown.add('http server', () => app.close());
    if (own) shutdown.add('redis (WAIT)', () => closeRedis(own!));
    let redisReady = false;
    return {
      listen: async () => {
        // Up to 5 s for the first connection, so the first requests are not answered 503 while it is
        // being set up; when Redis is down the producer starts anyway and answers 503 until it is back.
        redisReady = await waitForReady(redis(), 5000);
        return app.listen();
      },
      start: () => ({
        redis: describeRedis(config.redis),
        redisReady,
        streams: config.streams,
        streamShards: config.streamShards,
        maxEventBytes: config.maxEventBytes,
        maxBatchBytes: config.maxBatchBytes,
        maxLen: config.maxLen,
        idempotencyTtlS: config.idempotencyTtlS,
        batchMax: config.batchMax,
        publishTimeoutMs: config.publishTimeoutMs,
        minReplicasAck: config.minReplicasAck,
        authMode: config.authMode,
        rateLimitPerS: config.rateLimitPerS,
      }),
    };
  },
});
