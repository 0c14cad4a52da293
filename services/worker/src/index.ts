import { Worker, type WorkerOptions } from './worker';
import type { Handler } from './handler';

export { Worker, type WorkerOptions } from './worker';
export type { Handler, HandlerContext } from './handler';
export { simHandler, type SimHandlerOptions } from './sim-handler';
export { loadHandler } from './load-handler';
export { workerConfig, type WorkerConfig } from './config';

/** Creates a worker and starts consuming; `await worker.close()` drains it (idempotent). */
export async function createWorker(options: WorkerOptions, handler: Handler): Promise<Worker> {
  const worker = new Worker(options, handler);
  await worker.start();
  return worker;
}
