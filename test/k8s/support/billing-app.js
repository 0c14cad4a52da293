// A user's own service (what a NestJS app embedding the library looks like from the cluster): its own
// entry point and handler calling the worker library, its own image and its own Deployment, which
// test/k8s/pools.test.ts creates with kubectl. The release only scales it (workers.<pool>.external).
// Environment: REDIS_URL, REDIS_PASSWORD (the release's Secret), STREAM, GROUP, LEDGER_KEY (each
// handled event id is counted in the hash <LEDGER_KEY>:done).
'use strict';
const { hostname } = require('node:os');
const Redis = require('ioredis');
const pino = require('pino');
const { Registry } = require('prom-client');
const { createWorker } = require('@stream-workers/worker');

const env = process.env;
const url = new URL(env.REDIS_URL);
if (env.REDIS_PASSWORD) url.password = encodeURIComponent(env.REDIS_PASSWORD);
const logger = pino({ base: { service: 'billing-api' } });
const ledger = new Redis(url.toString(), { maxRetriesPerRequest: null, connectionName: 'billing-api:ledger' });
ledger.on('error', () => undefined);

async function main() {
  const worker = await createWorker(
    {
      redisUrl: url.toString(), stream: env.STREAM, group: env.GROUP, consumer: hostname(),
      concurrency: 10, claimIdleMs: 5000, shutdownGraceMs: 10000, logger, registry: new Registry(),
    },
    async (event) => {
      await ledger.hincrby(`${env.LEDGER_KEY}:done`, event.id, 1);
    },
  );
  logger.info({ stream: env.STREAM, group: env.GROUP }, 'billing-api consuming');
  process.once('SIGTERM', () => {
    worker.close().then(() => ledger.quit()).then(() => process.exit(0), () => process.exit(1));
  });
}

main().catch((err) => {
  logger.error({ err }, 'billing-api failed to start');
  process.exit(1);
});
