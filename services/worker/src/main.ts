#!/usr/bin/env node
/** The worker binary: `node services/worker/dist/main.js` (environment per docs/design.md, "Runtime contract"). */
import {
  OpsServer,
  Shutdown,
  createLogger,
  createRegistry,
  describeStartupError,
  signalHandler,
  startupExitCode,
  type Contract,
} from '@stream-workers/core';
import { workerConfig } from './config';
import { Worker } from './worker';
import { simHandler } from './sim-handler';
import { loadHandlerModule } from './load-handler';
import type { Handler } from './handler';

async function main(): Promise<void> {
  const cfg = workerConfig.parse(process.env);
  const logger = createLogger({ service: 'worker', level: cfg.logLevel, base: { consumer: cfg.consumer } });
  const registry = createRegistry();
  const loaded = cfg.handler ? await loadHandlerModule(cfg.handler, process.cwd()) : undefined;
  const handler: Handler = loaded?.handle ?? simHandler({ workMs: cfg.simWorkMs, failRate: cfg.simFailRate, poisonType: cfg.simPoisonType });
  const worker = new Worker(
    {
      redisUrl: cfg.redisUrl, stream: cfg.stream, group: cfg.group, consumer: cfg.consumer, groupStartId: cfg.groupStartId,
      batchSize: cfg.batchSize, concurrency: cfg.concurrency, blockMs: cfg.blockMs, maxDeliveries: cfg.maxDeliveries,
      claimIdleMs: cfg.claimIdleMs, retryDelayMs: cfg.retryDelayMs, deadLetterStream: cfg.deadLetterStream,
      shutdownGraceMs: cfg.shutdownGraceMs, envelope: cfg.envelope, envelopeField: cfg.envelopeField,
      ...(loaded?.contracts !== undefined ? { contracts: loaded.contracts as Contract[] } : {}), // checked by the worker (a TypeError names what is wrong)
      logger, registry,
    },
    handler,
  );
  const ops = new OpsServer({ port: cfg.port, registry, logger, readiness: () => worker.readiness() });
  const port = await ops.listen();
  const shutdown = new Shutdown({ logger, deadlineMs: cfg.shutdownGraceMs + 8000 });
  shutdown.add('worker', () => worker.close()).add('ops server', () => ops.close());
  const onSignal = signalHandler(shutdown, logger, (code) => process.exit(code));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Never rejects for Redis trouble: an unreachable Redis means /readyz 503 and retries with backoff.
  await worker.start();
  logger.info(
    { stream: cfg.stream, group: cfg.group, port, handler: cfg.handler ?? 'simulated', concurrency: cfg.concurrency, batchSize: cfg.batchSize, claimIdleMs: cfg.claimIdleMs },
    'worker started',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(describeStartupError('worker', err) + '\n');
  process.exit(startupExitCode(err));
});
