/**
 * Shared pieces of the worker benchmarks: filling a stream, spawning real worker processes
 * (`node services/worker/dist/main.js`), reading a process's peak RSS, and timing a group's drain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { buildEvent, toFields } from '@stream-workers/core';

export const REPO_ROOT = join(__dirname, '..', '..');
export const WORKER_MAIN = join(REPO_ROOT, 'services', 'worker', 'dist', 'main.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Monotonic clock in milliseconds (CLOCK_MONOTONIC: comparable across processes on one host). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Appends `n` valid envelopes with pipelined XADD (1,000 per round trip). */
export async function fillStream(redis: Redis, stream: string, n: number, onProgress?: (done: number) => void): Promise<void> {
  const proto = buildEvent({ source: 'bench', type: 'noop', data: { i: 0 } });
  if (!proto.ok) throw new Error('bench event does not validate');
  for (let start = 0; start < n; start += 1000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const fields = toFields({ ...proto.value, id: `bench-${i}`, data: { i } });
      p.xadd(stream, '*', ...fields);
    }
    await p.exec();
    if (onProgress && (start / 1000) % 50 === 49) onProgress(start + 1000);
  }
}

export interface WorkerProcess {
  proc: ChildProcess;
  /** Resolves with the ops port once the worker logged `worker started`. */
  started: Promise<number>;
  /** Peak resident set size so far in KiB (VmHWM), or NaN off Linux. */
  peakRssKb(): number;
  /** SIGTERM (drain) and wait for the exit. */
  stop(): Promise<void>;
  stderr(): string;
}

/** Spawns a real worker process with the given environment (no other variables leak in). */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const proc = spawn(process.execPath, [WORKER_MAIN], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err = (err + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const started = new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (chunk: string): void => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.includes('"worker started"')) {
          resolve(Number((JSON.parse(line) as { port?: number }).port));
        }
      }
    };
    proc.stdout!.setEncoding('utf8').on('data', onData);
    void exited.then(() => reject(new Error(`worker exited before it started: ${err.slice(-500)}`)));
  });
  started.catch(() => undefined);
  return {
    proc,
    started,
    stderr: () => err,
    peakRssKb() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
        return m ? Number(m[1]) : NaN;
      } catch {
        return NaN;
      }
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** XINFO GROUPS of one group as an object, or undefined when it does not exist. */
export async function groupInfo(redis: Redis, stream: string, group: string): Promise<{ pending: number; lag: number | null } | undefined> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  for (const g of groups) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
    if (o.name === group) return { pending: Number(o.pending), lag: o.lag === null ? null : Number(o.lag) };
  }
  return undefined;
}

/** Polls every `intervalMs` until the group read everything and acked it; returns the monotonic time seen. */
export async function waitGroupDrained(redis: Redis, stream: string, group: string, timeoutMs: number, intervalMs = 10): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await groupInfo(redis, stream, group);
    if (g && g.pending === 0 && g.lag === 0) return monoMs();
    if (Date.now() > deadline) throw new Error(`group ${group} not drained within ${timeoutMs} ms (state ${JSON.stringify(g)})`);
    await sleep(intervalMs);
  }
}

/** Value at quantile q (0..1) of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
