/**
 * The sharded-pool scenario of issue 17 (must-show 2), on one server or on a cluster: plain streams
 * with a worker process each, one stream with STREAM_SHARDS shards served by the autoscaler's local
 * worker processes, two producers (plain, sharded), one exporter. Events are posted over HTTP with
 * their own ids; the recording handler counts each id it completes (on the shared Redis, unique
 * keys), so "0 lost" is counted event by event.
 */
import Redis from 'ioredis';
import { freePort } from '@stream-workers/core';
import { startService, stopProcesses, waitFor, type ServiceProcess } from '../../../test-support/process';
import { RECORDING_HANDLER } from '../../../services/worker/test/support';
import { SHARED_REDIS_URL, deleteKeys } from '../../../test-support/redis';

/** What the scenario runs against. */
export interface PoolScenarioOptions {
  /** `REDIS_URL` or `REDIS_CLUSTER_NODES` for every service. */
  redisEnv: Record<string, string>;
  /** Key prefix of the streams (no `{`). */
  prefix: string;
  plainStreams: number;
  shards: number;
  eventsPerStream: number;
  /** The autoscaler's TARGET_PER_REPLICA and MAX_REPLICAS for the sharded pool. */
  targetPerReplica: number;
  maxReplicas: number;
}

/** What the scenario saw. */
export interface PoolReport {
  plain: string[];
  sharded: string;
  /** Per stream: ids posted and ids never completed. */
  lost: Record<string, string[]>;
  posted: number;
  completed: number;
  duplicates: number;
  /** The exporter's `stream_length` series: how often each stream label appeared. */
  exportedStreams: Map<string, number>;
  /** The exporter's `sharded_*` lines. */
  shardedLines: string[];
  /** The autoscaler's first scale decision (its log line) and its metrics at that time. */
  firstScale: Record<string, unknown>;
  autoscalerMetrics: string;
  drainSeconds: number;
}

async function post(port: number, stream: string, events: object[]): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/streams/${encodeURIComponent(stream)}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 202) throw new Error(`POST ${stream}: ${res.status} ${await res.text()}`);
}

async function metrics(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return r.text();
}

/** Runs the services (kept in `procs` for the caller's afterAll) and the scenario. */
export async function runPoolScenario(o: PoolScenarioOptions, procs: ServiceProcess[]): Promise<PoolReport> {
  const record = `${o.prefix}:rec`;
  const plain = Array.from({ length: o.plainStreams }, (_, i) => `${o.prefix}:s${i}`);
  const sharded = `${o.prefix}:pay`;
  const base = { ...o.redisEnv, LOG_LEVEL: 'warn' };
  const recorder = { HANDLER: RECORDING_HANDLER, RECORD_KEY: record, RECORD_REDIS_URL: SHARED_REDIS_URL, RECORD_WORK_MS: '1' };
  const start = (name: string, env: Record<string, string>): ServiceProcess => {
    const p = startService(name, { ...base, ...env });
    procs.push(p);
    return p;
  };
  const [p1, p2, ex, as] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  start('producer', { PORT: String(p1), STREAMS: plain.join(',') });
  start('producer', { PORT: String(p2), STREAMS: sharded, STREAM_SHARDS: String(o.shards) });
  start('lag-exporter', { PORT: String(ex), STREAMS: `${o.prefix}:*`, STREAM_SHARDS: String(o.shards), DISCOVERY_INTERVAL_MS: '0' });
  const ready = async (port: number): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
  await waitFor(async () => (await ready(p1)) && (await ready(p2)) && (await ready(ex)), 60_000, 100, 'producers and exporter ready');

  // The events, each with its own id; the sharded ones keyed by subject (20 accounts).
  const ids: Record<string, string[]> = {};
  const n = o.eventsPerStream;
  const batch = (stream: string, keyed: boolean): object[] =>
    Array.from({ length: n }, (_, i) => ({ id: `${stream}#${i}`, source: 'pool-scenario', type: 't', ...(keyed ? { subject: `acct-${i % 20}` } : {}), data: { i } }));
  for (const s of [...plain, sharded]) {
    const events = batch(s, s === sharded);
    ids[s] = events.map((e) => (e as { id: string }).id);
    for (let i = 0; i < events.length; i += 200) await post(s === sharded ? p2 : p1, s, events.slice(i, i + 200));
  }
  const started = Date.now();
  // A worker per plain stream; the sharded pool is the autoscaler's (its first decision sees the burst).
  for (const s of plain) start('worker', { PORT: '0', STREAM: s, CONCURRENCY: '20', ...recorder });
  const autoscaler = start('autoscaler', {
    PORT: String(as), TARGET_KIND: 'local', STREAM: sharded, STREAM_SHARDS: String(o.shards), TARGET_PER_REPLICA: String(o.targetPerReplica),
    MIN_REPLICAS: '0', MAX_REPLICAS: String(o.maxReplicas), POLL_INTERVAL_MS: '500', COOLDOWN_S: '600', SCALE_DOWN_WINDOW_S: '600', JANITOR_INTERVAL_MS: '1000',
    CONCURRENCY: '20', LOG_LEVEL: 'info', ...recorder,
  });
  const firstScale = await autoscaler.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('scaled up'), 60_000);
  const autoscalerMetrics = await metrics(as);

  const shared = new Redis(SHARED_REDIS_URL);
  try {
    const all = Object.values(ids).flat();
    await waitFor(async () => (await shared.hlen(`${record}:done`)) >= all.length, 300_000, 200, `all ${all.length} events completed`);
    const drainSeconds = (Date.now() - started) / 1000;
    const done = await shared.hgetall(`${record}:done`);
    const lost: Record<string, string[]> = {};
    for (const [s, list] of Object.entries(ids)) lost[s] = list.filter((id) => !(Number(done[id]) >= 1));
    const duplicates = Object.values(done).reduce((a, c) => a + Number(c) - 1, 0);

    // The exporter after the drain: every stream and shard once, the sharded totals at 0 outstanding.
    // waitFor resolves only with a truthy value: the text.
    const text = (await waitFor(async () => {
      const t = await metrics(ex);
      return /stream_workers_sharded_group_outstanding\{[^}]*\} 0\n/.test(t) ? t : undefined;
    }, 60_000, 200, 'the exporter to show the drained sharded total')) as string;
    const exportedStreams = new Map<string, number>();
    for (const m of text.matchAll(/^stream_workers_stream_length\{stream="([^"]*)"\}/gm)) exportedStreams.set(m[1]!, (exportedStreams.get(m[1]!) ?? 0) + 1);
    const shardedLines = text.split('\n').filter((l) => l.startsWith('stream_workers_sharded_'));
    return { plain, sharded, lost, posted: all.length, completed: Object.keys(done).length, duplicates, exportedStreams, shardedLines, firstScale, autoscalerMetrics, drainSeconds };
  } finally {
    shared.disconnect();
  }
}

/** After a scenario: its processes stopped ({@link stopProcesses}), then its Redis, then its keys on the shared Redis. */
export async function cleanUpScenario(procs: ServiceProcess[], stopRedis: () => Promise<unknown>, prefix: string): Promise<void> {
  await stopProcesses(procs);
  await stopRedis();
  const shared = new Redis(SHARED_REDIS_URL);
  try {
    await deleteKeys(shared, prefix);
  } finally {
    shared.disconnect();
  }
}
