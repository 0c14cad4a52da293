/**
 * `cluster` (issue 17, must-show 6): one sharded stream (STREAM_SHARDS 1, 2 and 4) read by real
 * worker processes, on the harness's one server and on a local 3-primary Redis Cluster, in one run.
 * Figures: events/s per configuration, and the cluster's cost per event against one server as ratios
 * (one server's rate / the cluster's rate, and the cluster's CPU µs per event / one server's, where
 * CPU is the worker processes' plus the Redis servers' over the timed part; same shard count). On two cores the cluster cannot show
 * scale-out: the three primaries, the workers and this process share the same CPUs, so the figures say
 * what the cluster (redirect-aware clients, one connection per shard and node, no cross-slot batching)
 * costs, not what it gains.
 */
import { readFileSync } from 'node:fs';
import Redis, { Cluster } from 'ioredis';
import { LocalRedisCluster, keySlot, shardKeys } from '@stream-workers/core';
import type { Benchmark, BenchContext } from './harness';
import { fillStream, monoMs, sleep, spawnWorker, waitGroupDrained } from './bench-support';

/** Entries per timed run, over all shards (BENCH_CLUSTER_EVENTS overrides). */
const EVENTS = Number(process.env.BENCH_CLUSTER_EVENTS ?? 60_000);
/** Entries read untimed first (JIT warm-up, connections up). */
const WARMUP = Math.min(10_000, Math.floor(EVENTS / 4));
/** Worker processes per configuration: the same in every configuration, so only the topology varies. */
const PROCS = Number(process.env.BENCH_CLUSTER_PROCS ?? 2);
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
const SHARD_COUNTS = [1, 2, 4] as const;
const STREAM = 'bench-sharded';

/** One configuration's target: how services reach Redis, an admin client and the server processes' pids. */
interface Topology {
  label: 'single' | 'cluster';
  env: Record<string, string>;
  admin: Redis;
  serverPids: number[];
}

/** CPU seconds (user + system) a process has used so far (/proc/<pid>/stat; NaN off Linux). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return NaN;
  }
}

/** The pid of the server behind a connection (`INFO server`'s process_id). */
async function serverPid(r: Redis): Promise<number> {
  return Number(/process_id:(\d+)/.exec(await r.info('server'))![1]);
}

/** What one timed run measured. */
interface RunResult {
  rate: number;
  /** CPU µs per event: the worker processes plus the Redis server(s), over the timed part. */
  cpuUsPerEvent: number;
}

/** Fills every shard with `perShard` entries; on a cluster each shard's pipeline goes to its node (one slot each). */
async function fill(admin: Redis, keys: string[], perShard: number): Promise<void> {
  for (const k of keys) await fillStream(admin, k, perShard);
}

/**
 * One timed run: `PROCS` workers with STREAM_SHARDS=`shards` read the group (created at the end of
 * every shard), drain a warm-up, then the group is rewound to 0 on every shard and the whole stream is
 * timed until every shard has lag 0 and pending 0.
 */
async function timeRun(t: Topology, shards: number, group: string): Promise<RunResult> {
  const keys = shardKeys(STREAM, shards);
  for (const k of keys) await t.admin.call('XGROUP', 'CREATE', k, group, '$', 'MKSTREAM');
  const ws = Array.from({ length: PROCS }, (_, i) =>
    spawnWorker({ ...t.env, STREAM, STREAM_SHARDS: String(shards), GROUP: group, CONSUMER: `${group}-${i}`, SIM_WORK_MS: '0', BLOCK_MS: '100' }),
  );
  try {
    await Promise.all(ws.map((w) => w.started));
    await sleep(300);
    await fill(t.admin, keys, Math.ceil(WARMUP / shards));
    for (const k of keys) await waitGroupDrained(t.admin, k, group, 120_000);
    const pids = [...t.serverPids, ...ws.map((w) => w.proc.pid!)];
    const cpu0 = pids.map(cpuSeconds);
    const t0 = monoMs();
    for (const k of keys) {
      await t.admin.call('XGROUP', 'SETID', k, group, '0', 'ENTRIESREAD', '0');
      await fillStream(t.admin, k, 1); // wakes the blocked reads
    }
    let t1 = t0;
    for (const k of keys) t1 = Math.max(t1, await waitGroupDrained(t.admin, k, group, 600_000));
    const cpu = pids.map(cpuSeconds).reduce((a, c, i) => a + c - cpu0[i]!, 0);
    let n = 0;
    for (const k of keys) n += await t.admin.xlen(k);
    return { rate: n / ((t1 - t0) / 1000), cpuUsPerEvent: (cpu * 1e6) / n };
  } finally {
    await Promise.all(ws.map((w) => w.stop()));
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const clusterShards: Benchmark = {
  name: 'cluster',
  description: `one stream of 1, 2, 4 shards, ${PROCS} worker processes, ${EVENTS} entries: one server vs a 3-primary Redis Cluster (events/s, cost ratio)`,
  async run(ctx: BenchContext) {
    ctx.progress('starting a 3-primary Redis Cluster (redis-server --cluster-enabled yes ×3, redis-cli --cluster create)');
    const cluster = await LocalRedisCluster.start({ primaries: 3, args: ['--appendonly', 'no', '--maxmemory', '0'] });
    const single = new Redis(ctx.redisUrl);
    const clusterClient = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })));
    clusterClient.on('error', () => undefined);
    // The benchmark's admin calls touch one key each: a Cluster client takes Redis' single-key methods.
    const topologies: Topology[] = [
      { label: 'single', env: { REDIS_URL: ctx.redisUrl }, admin: single, serverPids: [await serverPid(single)] },
      { label: 'cluster', env: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, admin: clusterClient as unknown as Redis, serverPids: cluster.nodes.map((n) => n.pid!) },
    ];
    try {
      const rates = new Map<string, number[]>();
      const cpus = new Map<string, number[]>();
      for (const shards of SHARD_COUNTS) {
        const keys = shardKeys(STREAM, shards);
        const owners = new Set(await Promise.all(keys.map((k) => cluster.ownerOf(keySlot(k)))));
        ctx.figure(`cluster_primaries_used_${shards}shard`, owners.size);
        for (const t of topologies) {
          await fill(t.admin, keys, Math.ceil(EVENTS / shards));
        }
        for (let rep = 1; rep <= REPS; rep++) {
          // Alternating topologies within a rep: a load change on the shared machine hits both.
          for (const t of topologies) {
            const r = await timeRun(t, shards, `g${shards}r${rep}`);
            const key = `${t.label}_${shards}shard`;
            rates.set(key, [...(rates.get(key) ?? []), r.rate]);
            cpus.set(key, [...(cpus.get(key) ?? []), r.cpuUsPerEvent]);
            ctx.progress(`rep ${rep}/${REPS}: ${t.label}, ${shards} shard(s): ${Math.round(r.rate)} events/s, ${r.cpuUsPerEvent.toFixed(2)} CPU µs/event`);
          }
        }
        for (const t of topologies) for (const k of keys) await t.admin.del(k);
        const s = median(rates.get(`single_${shards}shard`)!);
        const c = median(rates.get(`cluster_${shards}shard`)!);
        ctx.figure(`single_${shards}shard_events_per_s`, s, 'events/s');
        ctx.figure(`single_${shards}shard_events_per_s_reps`, rates.get(`single_${shards}shard`)!.map(Math.round).join(' '));
        ctx.figure(`cluster_${shards}shard_events_per_s`, c, 'events/s');
        ctx.figure(`cluster_${shards}shard_events_per_s_reps`, rates.get(`cluster_${shards}shard`)!.map(Math.round).join(' '));
        ctx.figure(`cluster_cost_per_event_ratio_${shards}shard`, s / c, '×');
        // The steadier cost on a shared machine: CPU per event of the workers and the server(s).
        const sc = median(cpus.get(`single_${shards}shard`)!);
        const cc = median(cpus.get(`cluster_${shards}shard`)!);
        ctx.figure(`single_${shards}shard_cpu_us_per_event`, sc, 'µs');
        ctx.figure(`cluster_${shards}shard_cpu_us_per_event`, cc, 'µs');
        ctx.figure(`cluster_cpu_per_event_ratio_${shards}shard`, cc / sc, '×');
      }
    } finally {
      clusterClient.disconnect();
      single.disconnect();
      await cluster.stop();
    }
  },
};
