// A worker handler for tests (HANDLER=test-support/handlers/recording-handler.js). It records every
// handler start and completion in Redis hashes keyed by event id, so tests count lost and duplicate
// events exactly. Behaviour by event type:
//   "slow":   waits data.ms (default RECORD_SLOW_MS or 3000) before completing
//   "poison": always fails
//   "flaky":  fails its first data.failures (default 2) deliveries, then succeeds
//   other:    waits RECORD_WORK_MS (default 0)
// Environment: RECORD_KEY (required: hashes <RECORD_KEY>:started and <RECORD_KEY>:done), REDIS_URL,
// REDIS_USERNAME and REDIS_PASSWORD (the chart keeps the password out of REDIS_URL); or RECORD_REDIS_URL,
// a Redis of its own for the ledger (e.g. when the worker reaches its Redis through Sentinel), used
// as given (no credentials added).
'use strict';
const Redis = require('ioredis');

const key = process.env.RECORD_KEY;
if (!key) throw new Error('RECORD_KEY is required by the recording handler');
const ledgerUrl = process.env.RECORD_REDIS_URL;
const credentials = ledgerUrl ? {} : {
  ...(process.env.REDIS_USERNAME ? { username: process.env.REDIS_USERNAME } : {}),
  ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}),
};
const redis = new Redis(ledgerUrl || process.env.REDIS_URL || 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null, ...credentials });
redis.on('error', () => undefined);
const workMs = Number(process.env.RECORD_WORK_MS || 0);
const slowMs = Number(process.env.RECORD_SLOW_MS || 3000);
const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); }, { once: true });
});

async function handle(event, ctx) {
  await redis.hincrby(`${key}:started`, event.id, 1);
  if (event.type === 'slow') await sleep(event.data?.ms ?? slowMs, ctx.signal);
  else if (workMs > 0) await sleep(workMs, ctx.signal);
  if (event.type === 'poison') throw new Error('poison');
  if (event.type === 'flaky' && ctx.deliveryCount <= (event.data?.failures ?? 2)) throw new Error(`flaky, delivery ${ctx.deliveryCount}`);
  await redis.hincrby(`${key}:done`, event.id, 1);
}

module.exports = { handle };
