import { setTimeout as sleep } from 'node:timers/promises';
import type { Handler } from './handler';

/** Options of the built-in simulated handler (SIM_* variables). */
export interface SimHandlerOptions {
  /** Time per event in ms (a timer, not CPU work); default 5. */
  workMs: number;
  /** Share of deliveries that fail, 0..1; default 0. */
  failRate: number;
  /** Events of this type always fail (poison); unset = none. */
  poisonType?: string | undefined;
  /** Random source (tests); default Math.random. */
  random?: () => number;
}

/** The simulated handler for demos and tests: waits `workMs`, fails `failRate` of deliveries and every poison event. */
export function simHandler(opts: SimHandlerOptions): Handler {
  const random = opts.random ?? Math.random;
  return async (event, ctx) => {
    if (opts.workMs > 0) await sleep(opts.workMs, undefined, { signal: ctx.signal });
    if (opts.poisonType !== undefined && event.type === opts.poisonType) throw new Error(`poison event of type ${event.type}`);
    if (opts.failRate > 0 && random() < opts.failRate) throw new Error('simulated failure');
  };
}
