import type { Phase } from './scenario';

/** Counts of a load run so far. */
export interface LoadCounts {
  /** Events acknowledged by the producer (2xx), poison included. */
  published: number;
  /** Events sent without an acknowledgement. */
  failed: number;
  /** Poison events acknowledged. */
  poison: number;
}

/** Drives the producer through the scenario's phases. */
export interface LoadDriver {
  /** Runs the phases in order; `onPhase` is called as each begins. Resolves early (without throwing) when `signal` aborts. */
  run(phases: readonly Phase[], signal: AbortSignal, onPhase: (p: Phase) => void): Promise<void>;
  /** Live counts (read by the sampler every second, final after `run` resolved). */
  counts(): LoadCounts;
  /** Why publishing failed, if it did (last error), for the report. */
  lastError(): string | undefined;
}
