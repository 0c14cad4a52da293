import { Worker, type WorkerOptions } from './worker';
import type { Handler } from './handler';

export { Worker, FORCE_CLOSE_MS, type WorkerOptions, type CloseOptions, type WorkerStats } from './worker';
export { ShardedWorker, type ShardedWorkerOptions } from './sharded-worker';
export type { Handler, HandlerContext } from './handler';
export type { WorkerEvents, WorkerEventName, WorkerListener, WorkerErrorEvent, FailedEvent, DeadLetteredEvent, DrainedEvent } from './events';
export { OPTION_SPECS, type ResolvedWorkerOptions, type SpecOptions } from './options';
export { simHandler, type SimHandlerOptions } from './sim-handler';
export { loadHandler } from './load-handler';
export { workerConfig, type WorkerConfig } from './config';

/**
 * Creates a worker and starts consuming; `await worker.close()` drains it, `close({ force: true })`
 * stops it at once (both idempotent). Rejects before anything connects when an option breaks its
 * rule (a RangeError, or a TypeError for a wrong type or a missing option, naming the option, the
 * value and what is allowed). Events: `worker.on('error' | 'failed' | 'deadLettered' | 'drained', …)`.
 */
export async function createWorker(options: WorkerOptions, handler: Handler): Promise<Worker> {
  const worker = new Worker(options, handler);
  await worker.start();
  return worker;
}
