/**
 * Must-show 3 of issue 17: a stream's slot moved to another primary (CLUSTER SETSLOT IMPORTING /
 * MIGRATING, MIGRATE of its keys, SETSLOT NODE: what `redis-cli --cluster reshard` does) while a
 * producer appends and two worker processes consume it. The producer, the workers (read and command
 * connections) and the exporter follow the redirects (ASK during the move, MOVED after); processing
 * resumes and every event posted is processed (counted by id: 0 lost). Build first (`npx tsc -b`).
 * The time from the move to the first event completed after it is printed, never asserted.
 */
import Redis from 'ioredis';
import { freePort, keySlot, deadLetterKey } from '@stream-workers/core';
import { LocalRedisCluster } from '../../test-support/redis-cluster';
import { deleteKeys, SHARED_REDIS_URL, uniquePrefix } from '../../test-support/redis';
import { startService, stopProcesses, waitFor, type ServiceProcess } from '../../test-support/process';
import { RECORDING_HANDLER } from '../../services/worker/test/support';

let cluster: LocalRedisCluster;
let shared: Redis;
const procs: ServiceProcess[] = [];
const prefix = uniquePrefix('slotmove');

beforeAll(async () => {
  cluster = await LocalRedisCluster.start({ primaries: 3 });
  shared = new Redis(SHARED_REDIS_URL);
}, 90_000);
afterAll(async () => {
  await stopProcesses(procs);
  await cluster?.stop();
  await deleteKeys(shared, prefix);
  shared.disconnect();
});

/** Posts a batch until it is accepted (a 503 is retried with the same ids: idempotent). */
async function postUntilAccepted(port: number, stream: string, events: object[]): Promise<void> {
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/streams/${encodeURIComponent(stream)}/events`, {
      method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events),
    }).catch(() => undefined);
    if (res?.status === 202) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a stream\'s slot moves to another primary while it is consumed: processing resumes, 0 lost', async () => {
  const stream = `${prefix}:moving`;
  const slot = keySlot(stream);
  const from = await cluster.ownerOf(slot);
  const to = cluster.nodes.map((n) => n.port).find((p) => p !== from)!;
  const record = `${prefix}:rec`;
  const env = { REDIS_CLUSTER_NODES: cluster.nodesEnv, LOG_LEVEL: 'warn' };
  const [pp, ep] = await Promise.all([freePort(), freePort()]);
  const start = (name: string, e: Record<string, string>): ServiceProcess => {
    const p = startService(name, { ...env, ...e });
    procs.push(p);
    return p;
  };
  start('producer', { PORT: String(pp), STREAMS: stream });
  for (let i = 0; i < 2; i++) {
    start('worker', { PORT: '0', STREAM: stream, CONSUMER: `w${i}`, CONCURRENCY: '10', CLAIM_IDLE_MS: '5000', HANDLER: RECORDING_HANDLER, RECORD_KEY: record, RECORD_REDIS_URL: SHARED_REDIS_URL, RECORD_WORK_MS: '2' });
  }
  start('lag-exporter', { PORT: String(ep), STREAMS: `${prefix}:*`, DISCOVERY_INTERVAL_MS: '0' });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${pp}/readyz`).catch(() => undefined))?.status === 200, 60_000, 100, 'producer ready');

  // A steady load: batches of 20 events with their own ids, every ~20 ms, before, during and after the move.
  const ids: string[] = [];
  let stop = false;
  const load = (async () => {
    for (let b = 0; !stop; b++) {
      const events = Array.from({ length: 20 }, (_, i) => ({ id: `m-${b}-${i}`, source: 'slot-move', type: 't', data: { b, i } }));
      await postUntilAccepted(pp, stream, events);
      for (const e of events) ids.push(e.id);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  await waitFor(async () => (await shared.hlen(`${record}:done`)) >= 500, 120_000, 100, '500 events processed before the move');
  const movedAt = Date.now();
  const doneAtMove = await shared.hlen(`${record}:done`);
  const keysMoved = await cluster.moveSlot(slot, to);
  const moveMs = Date.now() - movedAt;
  expect(await cluster.ownerOf(slot)).toBe(to);
  // Processing resumes on the new primary: more events complete after the move.
  await waitFor(async () => (await shared.hlen(`${record}:done`)) >= doneAtMove + 500, 120_000, 50, '500 more events processed after the move');
  const resumedMs = Date.now() - movedAt;
  stop = true;
  await load;

  await waitFor(async () => (await shared.hlen(`${record}:done`)) >= ids.length, 120_000, 100, `all ${ids.length} events processed`);
  const done = await shared.hgetall(`${record}:done`);
  const lost = ids.filter((id) => !(Number(done[id]) >= 1));
  const duplicates = Object.values(done).reduce((a, c) => a + Number(c) - 1, 0);
  const onNew = cluster.node(to);
  const onNewLength = await onNew.xlen(stream);
  const metrics = await (await fetch(`http://127.0.0.1:${ep}/metrics`)).text();
  console.log([
    `slot ${slot} of ${stream} moved from :${from} to :${to} (${keysMoved} keys, ${moveMs} ms) with ${doneAtMove} events done`,
    `${ids.length} events posted, ${Object.keys(done).length} processed, ${lost.length} lost, ${duplicates} duplicate runs; 500 more completed ${resumedMs} ms after the move started`,
  ].join('\n'));
  expect(lost).toEqual([]);
  expect(keysMoved).toBeGreaterThanOrEqual(1);
  expect(onNewLength).toBe(ids.length);
  expect(await onNew.exists(deadLetterKey(stream, { cluster: true }))).toBe(0); // nothing dead-lettered
  expect(metrics).toContain('stream_workers_exporter_up 1');
  expect(metrics.match(new RegExp(`stream_workers_stream_length\\{stream="${stream}"\\} ${ids.length}\\n`, 'g'))).toHaveLength(1);
}, 400_000);
