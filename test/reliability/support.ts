/**
 * Shared pieces of the reliability suite: every scenario runs its own private redis-server and real
 * worker processes (`node services/worker/dist/main.js`, built by `make test-reliability`) with the
 * recording handler, and ends by counting lost and duplicate events exactly.
 */
import Redis from 'ioredis';
import { buildEvent, toFields } from '../../services/core/src';
import { RECORDING_HANDLER, startWorker } from '../../services/worker/test/support';
import type { ServiceProcess } from '../../test-support/process';

export { RECORDING_HANDLER };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Worker environment for a scenario (recording handler, private Redis). */
export function workerEnv(redisUrl: string, stream: string, extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: redisUrl, STREAM: stream, GROUP: 'workers', HANDLER: RECORDING_HANDLER, RECORD_KEY: 'rec', BLOCK_MS: '500', ...extra };
}

/** Tracks spawned workers so every scenario can SIGKILL what is left in afterEach. */
export class Fleet {
  readonly all: ServiceProcess[] = [];
  start(env: Record<string, string>): ServiceProcess {
    const w = startWorker(env);
    this.all.push(w);
    return w;
  }
  alive(): ServiceProcess[] {
    return this.all.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
  }
  async killAll(): Promise<void> {
    for (const w of this.all.splice(0)) {
      w.kill('SIGKILL');
      await w.exited;
    }
  }
}

/** Builds the fields of one valid envelope with event id `id`. */
export function eventFields(id: string, type = 'test', data: unknown = {}): string[] {
  const r = buildEvent({ source: 'reliability', id, type, data });
  if (!r.ok) throw new Error(`bad test event: ${JSON.stringify(r.errors)}`);
  return toFields(r.value);
}

/** Every event id present in the stream (the envelope's `id` field). */
export async function idsInStream(redis: Redis, stream: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let start = '-';
  for (;;) {
    const page = (await redis.xrange(stream, start, '+', 'COUNT', 5000)) as Array<[string, string[]]>;
    for (const [, f] of page) {
      const i = f.indexOf('id');
      if (i >= 0 && i % 2 === 0) ids.add(f[i + 1]!);
    }
    if (page.length < 5000) return ids;
    start = '(' + page[page.length - 1]![0];
  }
}

/** Pending entries per consumer (XPENDING summary). */
export async function pendingByConsumer(redis: Redis, stream: string, group: string): Promise<Record<string, number>> {
  const r = (await redis.xpending(stream, group)) as [number, string | null, string | null, Array<[string, string]> | null];
  const out: Record<string, number> = {};
  for (const [c, n] of r[3] ?? []) out[c] = Number(n);
  return out;
}
