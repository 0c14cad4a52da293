#!/usr/bin/env node
/** The worker binary: `node services/worker/dist/main.js` (environment per docs/design.md, "Runtime contract"). */
import { OpsServer, keyModeOf, runService, type Contract } from '@stream-workers/core';
import { workerConfig } from './config';
import { Worker, type WorkerOptions } from './worker';
import { ShardedWorker } from './sharded-worker';
import { simHandler } from './sim-handler';
import { loadHandlerModule } from './load-handler';
import type { Handler } from './handler';

void runService({
  name: 'worker',
  config: workerConfig,
  logBase: (cfg) => ({ consumer: cfg.consumer }),
  shutdownDeadlineMs: (cfg) => cfg.shutdownGraceMs + 8000,
  async build({ config: cfg, logger, registry, shutdown }) {
    const loaded = cfg.handler ? await loadHandlerModule(cfg.handler, process.cwd()) : undefined;
    const handler: Handler = loaded?.handle ?? simHandler({ workMs: cfg.simWorkMs, failRate: cfg.simFailRate, poisonType: cfg.simPoisonType });
    const opts: WorkerOptions = {
      redis: cfg.redis, stream: cfg.stream, group: cfg.group, consumer: cfg.consumer, groupStartId: cfg.groupStartId,
      batchSize: cfg.batchSize, concurrency: cfg.concurrency, blockMs: cfg.blockMs, maxDeliveries: cfg.maxDeliveries,
      claimIdleMs: cfg.claimIdleMs, retryDelayMs: cfg.retryDelayMs,
      shutdownGraceMs: cfg.shutdownGraceMs, envelope: cfg.envelope, envelopeField: cfg.envelopeField,
      ...(loaded?.contracts !== undefined ? { contracts: loaded.contracts as Contract[] } : {}), // checked by the worker (a TypeError names what is wrong)
      logger, registry,
    };
    // STREAM_SHARDS > 1: a read loop per shard (sharded-worker.ts); each shard derives its dead-letter stream.
    const worker = cfg.streamShards > 1
      ? new ShardedWorker({ ...opts, shards: cfg.streamShards, keyMode: keyModeOf(cfg.redis) }, handler)
      : new Worker({ ...opts, deadLetterStream: cfg.deadLetterStream }, handler);
    const ops = new OpsServer({ port: cfg.port, registry, logger, readiness: () => worker.readiness() });
    shutdown.add('worker', () => worker.close()).add('ops server', () => ops.close());
    return {
      listen: () => ops.listen(),
      // Never rejects for Redis trouble: an unreachable Redis means /readyz 503 and retries with backoff.
      start: async () => {
        await worker.start();
        return { stream: cfg.stream, shards: cfg.streamShards, group: cfg.group, handler: cfg.handler ?? 'simulated', concurrency: cfg.concurrency, batchSize: cfg.batchSize, claimIdleMs: cfg.claimIdleMs };
      },
    };
  },
});
