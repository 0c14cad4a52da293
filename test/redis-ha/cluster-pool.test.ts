/**
 * Must-show 2 of issue 17: a real 3-primary Redis Cluster (redis-server --cluster-enabled yes ×3,
 * redis-cli --cluster create); 6 plain streams on different slots, each with a worker process, and one
 * stream of STREAM_SHARDS=6 served by the autoscaler (TARGET_KIND=local) and its worker processes;
 * two producers and the exporter, every service on REDIS_CLUSTER_NODES. Every event is counted by id
 * (0 lost), the exporter reports every stream and shard once plus the pool's total, and the
 * autoscaler's first decision is on the total. Build first (`npx tsc -b`). Times are printed only.
 */
import { keySlot } from '@stream-workers/core';
import { LocalRedisCluster } from '../../test-support/redis-cluster';
import { uniquePrefix } from '../../test-support/redis';
import type { ServiceProcess } from '../../test-support/process';
import { cleanUpScenario, runPoolScenario } from './support/pool-scenario';

const SHARDS = 6;
const EVENTS = 300;
let cluster: LocalRedisCluster;
const procs: ServiceProcess[] = [];
const prefix = uniquePrefix('cpool');

beforeAll(async () => {
  cluster = await LocalRedisCluster.start({ primaries: 3 });
}, 90_000);
afterAll(() => cleanUpScenario(procs, async () => cluster?.stop(), prefix));

test(`cluster: 6 streams on different slots and one of ${SHARDS} shards, all processed, 0 lost; every stream and shard exported once; the autoscaler scales on the sharded total`, async () => {
  const r = await runPoolScenario({ redisEnv: { REDIS_CLUSTER_NODES: cluster.nodesEnv }, prefix, plainStreams: 6, shards: SHARDS, eventsPerStream: EVENTS, targetPerReplica: 100, maxReplicas: 3 }, procs);
  const slots = r.plain.map(keySlot);
  const owners = await Promise.all([...r.plain, ...Array.from({ length: SHARDS }, (_, i) => `${r.sharded}{${i}}`)].map((k) => cluster.ownerOf(keySlot(k))));
  console.log([
    `cluster, 6 plain streams + ${SHARDS} shards: ${r.posted} events posted, ${r.completed} completed, ${Object.values(r.lost).flat().length} lost, ${r.duplicates} duplicate runs, drained in ${r.drainSeconds.toFixed(1)} s`,
    `slots of the plain streams: ${slots.join(' ')}; primaries (ports) of streams and shards: ${owners.join(' ')}`,
    `autoscaler's first decision: ${JSON.stringify({ outstanding: r.firstScale.outstanding, desired: r.firstScale.desired })}`,
    ...r.shardedLines,
  ].join('\n'));
  expect(new Set(slots).size).toBe(6);
  expect(new Set(owners).size).toBe(3); // the keys sit on every primary
  for (const [s, lost] of Object.entries(r.lost)) expect({ s, lost }).toEqual({ s, lost: [] });
  expect(r.completed).toBe(r.posted);
  for (const s of r.plain) expect(r.exportedStreams.get(s)).toBe(1);
  for (let i = 0; i < SHARDS; i++) expect(r.exportedStreams.get(`${r.sharded}{${i}}`)).toBe(1);
  expect(r.exportedStreams.has(r.sharded)).toBe(false);
  expect(r.shardedLines).toContain(`stream_workers_sharded_stream_shards{stream="${r.sharded}"} ${SHARDS}`);
  expect(r.shardedLines).toContain(`stream_workers_sharded_stream_length{stream="${r.sharded}"} ${EVENTS}`);
  // The first decision saw every shard's entries (300, not one shard's ~50): 3 replicas (MAX_REPLICAS).
  expect(r.firstScale).toMatchObject({ outstanding: EVENTS, desired: 3 });
  expect(r.autoscalerMetrics).toMatch(/stream_workers_autoscaler_desired_replicas 3\n/);
  expect(r.autoscalerMetrics).toMatch(/stream_workers_autoscaler_outstanding \d+\n/);
}, 600_000);
