/**
 * Shared pieces of the reliability suite: every scenario runs its own private redis-server and real
 * worker processes (`node services/worker/dist/main.js`, built by `make test-reliability`) with the
 * recording handler, and ends by counting lost and duplicate events exactly.
 */
import Redis from 'ioredis';
import { buildEvent, toFields } from '../../services/core/src';
import { RECORDING_HANDLER, startWorker } from '../../services/worker/test/support';
import type { ServiceProcess } from '../../test-support/process';
import { PrivateRedis } from '../../test-support/redis';

export { RECORDING_HANDLER };

/**
 * The pace of a load or probe loop (how often it acts: 500 events/s, a probe every 100 ms), never a
 * wait for something to happen: the scenarios wait on conditions with deadlines (`waitFor`).
 */
export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** Options of {@link privateRedisScenario}. */
export interface PrivateRedisScenarioOptions {
  /** Extra `redis-server` arguments; default `['--appendonly', 'no']`. */
  args?: string[];
  /** Open a client connection (`redis`) in beforeAll; default true. */
  client?: boolean;
  /** Extra teardown in afterAll, after the workers are killed and before Redis stops (a proxy, a producer process). */
  teardown?: () => Promise<void>;
}

/** What a scenario file shares: its private redis-server, a client on it, its workers and its cleanups. */
export interface PrivateRedisScenario {
  /** The scenario's private redis-server (started in beforeAll). */
  readonly server: PrivateRedis;
  /** A client connection to it (opened in beforeAll; only with `client` true). */
  readonly redis: Redis;
  /** The worker processes the scenario starts; SIGKILLed in afterAll. */
  readonly fleet: Fleet;
  /** Stops what a test started (load loops, samplers) also when it fails half-way; run first in afterAll. */
  readonly cleanups: Array<() => Promise<void>>;
}

/**
 * The set-up every reliability scenario file shares, as jest hooks: beforeAll starts a private
 * redis-server (never the shared one) and, unless `client` is false, a client on it; afterAll runs
 * the cleanups, SIGKILLs the fleet's workers, runs `teardown`, closes the client and stops the server
 * (removing its data dir). Call it at the top level of a test file; read the fields inside tests.
 */
export function privateRedisScenario(opts: PrivateRedisScenarioOptions = {}): PrivateRedisScenario {
  let server: PrivateRedis | undefined;
  let redis: Redis | undefined;
  const fleet = new Fleet();
  const cleanups: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    server = await PrivateRedis.start({ args: opts.args ?? ['--appendonly', 'no'] });
    if (opts.client ?? true) redis = new Redis(server.url);
  });
  afterAll(async () => {
    for (const c of cleanups.splice(0)) await c();
    await fleet.killAll();
    await opts.teardown?.();
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get server(): PrivateRedis {
      if (!server) throw new Error('the private redis-server starts in beforeAll: read `server` inside a test');
      return server;
    },
    get redis(): Redis {
      if (!redis) throw new Error(opts.client === false ? 'this scenario opened no client (client: false)' : 'the client opens in beforeAll: read `redis` inside a test');
      return redis;
    },
    fleet,
    cleanups,
  };
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

// ---- helpers of the scenarios added for issue 9 items 4–7 (producer outage, group deleted, slow handlers, soak) ----
// (import declarations are hoisted: this one serves the helpers below)
import { readFileSync } from 'node:fs';

/** One command's figures from `INFO commandstats` (Redis 7: `calls` include failed ones; `rejected` never ran, e.g. NOPERM). */
export interface CommandStat {
  calls: number;
  rejected: number;
  failed: number;
}

/** `INFO commandstats` by command name (`xreadgroup`, `xgroup|create`, …). */
export async function commandStats(redis: Redis): Promise<Record<string, CommandStat>> {
  const out: Record<string, CommandStat> = {};
  for (const line of (await redis.info('commandstats')).split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):(.*)$/.exec(line);
    if (!m) continue;
    const f: Record<string, number> = {};
    for (const kv of m[2]!.split(',')) {
      const [k, v] = kv.split('=');
      f[k!] = Number(v);
    }
    out[m[1]!] = { calls: f.calls ?? 0, rejected: f.rejected_calls ?? 0, failed: f.failed_calls ?? 0 };
  }
  return out;
}

/** Attempts of `command` between two snapshots: calls (failed ones included) plus rejected calls. */
export function attemptsBetween(before: Record<string, CommandStat>, after: Record<string, CommandStat>, command: string): number {
  const a = after[command] ?? { calls: 0, rejected: 0, failed: 0 };
  const b = before[command] ?? { calls: 0, rejected: 0, failed: 0 };
  return a.calls + a.rejected - (b.calls + b.rejected);
}

/** Log lines at warn level or above of a service process, from line index `from` on. */
export function warnLines(p: ServiceProcess, from = 0): Array<Record<string, unknown>> {
  return p.logs.slice(from).filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal');
}

/** Resident set size of a process in KiB (`VmRSS` of /proc/<pid>/status; Linux), NaN when unreadable. */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** `used_memory` of Redis in bytes (INFO memory). */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const m = /^used_memory:(\d+)/m.exec(await redis.info('memory'));
  return m ? Number(m[1]) : NaN;
}

/** Count of each HTTP status (or `error` for no answer) in a list of outcomes. */
export function tally<T>(items: T[], key: (t: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) {
    const k = String(key(t));
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
