/**
 * STREAM_SHARDS on one server (private redis-server), real processes: the same code path as in a
 * cluster. Must-show 2's scenario (test/redis-ha/support/pool-scenario.ts) at a smaller scale.
 * Build first (`npx tsc -b`). The drain time is printed, never asserted.
 */
import { PrivateRedis, uniquePrefix } from '../../test-support/redis';
import type { ServiceProcess } from '../../test-support/process';
import { cleanUpScenario, runPoolScenario } from './support/pool-scenario';

const SHARDS = 4;
let server: PrivateRedis;
const procs: ServiceProcess[] = [];
const prefix = uniquePrefix('shards1');

beforeAll(async () => {
  server = await PrivateRedis.start();
});
afterAll(() => cleanUpScenario(procs, async () => server?.stop(), prefix));

test(`one server: 2 plain streams and one stream of ${SHARDS} shards, all processed, 0 lost; exporter reports each key once and the total; autoscaler scales on the total`, async () => {
  const r = await runPoolScenario({ redisEnv: { REDIS_URL: server.url }, prefix, plainStreams: 2, shards: SHARDS, eventsPerStream: 300, targetPerReplica: 100, maxReplicas: 3 }, procs);
  console.log(`one server, ${SHARDS} shards: ${r.posted} events posted, ${r.completed} completed, ${Object.values(r.lost).flat().length} lost, ${r.duplicates} duplicate runs, drained in ${r.drainSeconds.toFixed(1)} s; first scale: ${JSON.stringify({ outstanding: r.firstScale.outstanding, desired: r.firstScale.desired })}`);
  for (const [s, lost] of Object.entries(r.lost)) expect({ s, lost }).toEqual({ s, lost: [] });
  expect(r.completed).toBe(r.posted);
  // Every key once: the plain streams, the shards (never the pool's name as a stream).
  for (const s of r.plain) expect(r.exportedStreams.get(s)).toBe(1);
  for (let i = 0; i < SHARDS; i++) expect(r.exportedStreams.get(`${r.sharded}{${i}}`)).toBe(1);
  expect(r.exportedStreams.has(r.sharded)).toBe(false);
  expect(r.shardedLines).toContain(`stream_workers_sharded_stream_shards{stream="${r.sharded}"} ${SHARDS}`);
  expect(r.shardedLines).toContain(`stream_workers_sharded_stream_length{stream="${r.sharded}"} 300`);
  // The autoscaler's first decision saw all 300 entries of the shards (not one shard's ~75): 3 replicas.
  expect(r.firstScale).toMatchObject({ outstanding: 300, desired: 3 });
  expect(r.autoscalerMetrics).toMatch(/stream_workers_autoscaler_desired_replicas 3\n/);
}, 400_000);
