/**
 * The benchmark harness: each benchmark measures its subject and a peer (or a ceiling) in the same
 * run on the same private redis-server, and reports figures and goals as ratios, never as absolute
 * timings asserted in tests (the machine is shared and noisy).
 */
import { LocalRedis } from '@stream-workers/core';

/** A goal a figure must meet; a miss is printed as a miss, never hidden. */
export interface Goal {
  key: string;
  value: number;
  /** `min`: value ≥ target is met; `max`: value ≤ target is met. */
  kind: 'min' | 'max';
  target: number;
  met: boolean;
}

export interface BenchContext {
  /** URL of a private redis-server started for this benchmark run (flushed between benchmarks). */
  redisUrl: string;
  /** Records a figure; `key` appears in latest.json (snake_case). */
  figure(key: string, value: number | string, unit?: string): void;
  /** Records a figure with a goal. */
  goal(key: string, value: number, kind: 'min' | 'max', target: number, unit?: string): void;
  /** A progress line on stderr. */
  progress(message: string): void;
}

export interface Benchmark {
  /** Short name, used to select it: `make bench BENCH=worker`. */
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

export interface Figure {
  bench: string;
  key: string;
  value: number | string;
  unit?: string;
  goal?: Goal;
}

/** Starts the private redis-server every benchmark uses. */
export async function startBenchRedis(): Promise<LocalRedis> {
  return LocalRedis.start({ args: ['--appendonly', 'no', '--maxmemory', '0'] });
}
