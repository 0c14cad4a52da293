import Redis from 'ioredis';
import { join } from 'node:path';
import { buildEvent, toFields } from '../../core/src';
import { REPO_ROOT, startService, waitFor, type ServiceProcess } from '../../../test-support/process';

export const RECORDING_HANDLER = join(REPO_ROOT, 'test-support', 'handlers', 'recording-handler.js');

/** Appends `n` events (type from `typeOf(i)`) with pipelined XADD; returns their event ids in order. */
export async function fill(redis: Redis, stream: string, n: number, typeOf: (i: number) => string = () => 'test', data: (i: number) => unknown = (i) => ({ i })): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < n; start += 1000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const r = buildEvent({ source: 'test', type: typeOf(i), data: data(i) });
      if (!r.ok) throw new Error('bad test event');
      ids.push(r.value.id);
      p.xadd(stream, '*', ...toFields(r.value));
    }
    await p.exec();
  }
  return ids;
}

export interface GroupState {
  pending: number;
  lag: number | null;
  entriesRead: number | null;
  consumers: string[];
}

export async function groupState(redis: Redis, stream: string, group: string): Promise<GroupState | undefined> {
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  for (const g of groups) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
    if (o.name === group) {
      const consumers = ((await redis.xinfo('CONSUMERS', stream, group)) as unknown[][]).map((c) => String(c[1]));
      return { pending: Number(o.pending), lag: o.lag === null ? null : Number(o.lag), entriesRead: o['entries-read'] === null ? null : Number(o['entries-read']), consumers };
    }
  }
  return undefined;
}

/** Waits until the group has read everything and holds nothing pending. */
export async function waitDrained(redis: Redis, stream: string, group: string, timeoutMs = 90_000): Promise<GroupState> {
  // waitFor resolves only with a truthy value.
  const state = await waitFor(async () => {
    const s = await groupState(redis, stream, group).catch(() => undefined);
    return s && s.pending === 0 && s.lag === 0 ? s : undefined;
  }, timeoutMs, 100, `group ${group} drained`);
  return state!;
}

/** Counts from the recording handler's hashes. */
export async function counts(redis: Redis, key: string, ids: string[]): Promise<{ done: number; lost: string[]; duplicates: number; started: Record<string, string> }> {
  const done = await redis.hgetall(`${key}:done`);
  const started = await redis.hgetall(`${key}:started`);
  const lost = ids.filter((id) => !done[id]);
  const duplicates = Object.values(done).reduce((a, v) => a + Number(v) - 1, 0);
  return { done: Object.keys(done).length, lost, duplicates, started };
}

export function startWorker(env: Record<string, string>): ServiceProcess {
  return startService('worker', { PORT: '0', LOG_LEVEL: 'info', ...env });
}

export async function workerPort(w: ServiceProcess): Promise<number> {
  const line = await w.waitForLog((l) => l.msg === 'worker started');
  return Number(line.port);
}

/** Sum of a counter sample in a worker's /metrics. */
export async function metricValue(port: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.split(' ').pop()) : NaN;
}
