/**
 * Network cut: a TCP proxy (node:net, in the test) sits between the workers and Redis; it destroys
 * every connection and refuses new ones until both workers logged the loss and their reconnection
 * attempts were refused 20 times (a few seconds of backoff). No worker stays wedged:
 * after the cut both the same worker processes take new entries again, and everything is processed: 0 lost.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import { counts, fill, waitDrained, workerPort, metricValue } from '../../services/worker/test/support';
import { privateRedisScenario, workerEnv } from './support';

jest.setTimeout(240_000);

/** A TCP proxy to 127.0.0.1:target that can cut every connection and refuse new ones. */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  /** Connections refused while cut (the workers' reconnection attempts). */
  refused = 0;
  private constructor(private readonly server: Server) {}
  static async start(target: number): Promise<CuttableProxy> {
    const server = createServer();
    const p = new CuttableProxy(server);
    server.on('connection', (client) => {
      if (p.refusing) {
        p.refused += 1;
        client.destroy();
        return;
      }
      const upstream = connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        p.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          p.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return p;
  }
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }
  cut(): void {
    this.refusing = true;
    for (const s of this.sockets) s.destroy();
  }
  heal(): void {
    this.refusing = false;
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let proxy: CuttableProxy;
const scenario = privateRedisScenario({ client: false, teardown: () => proxy.close() });
beforeAll(async () => {
  proxy = await CuttableProxy.start(scenario.server.port);
});

test('network cut (until the workers noticed it and retried): no worker wedged, processing resumes after the cut, 0 lost', async () => {
  const { server, fleet } = scenario;
  const stream = 'cut';
  const redis = new Redis(server.url); // the test talks to Redis directly, not through the proxy
  try {
    const viaProxy = `redis://127.0.0.1:${proxy.port}`;
    const workers = [0, 1].map((i) => fleet.start({ ...workerEnv(viaProxy, stream, { CLAIM_IDLE_MS: '5000', RECORD_WORK_MS: '2', CONCURRENCY: '10', BATCH_SIZE: '20' }), CONSUMER: `cut-${i}` }));
    const ports = await Promise.all(workers.map((w) => workerPort(w)));
    const before = await fill(redis, stream, 4000);
    // Processing is under way when the cut lands.
    await waitFor(async () => Number(await redis.hlen('rec:done')) >= 200, 60_000, 20, 'processing under way');
    const logsAtCut = workers.map((w) => w.logs.length);
    proxy.cut();
    const during = await fill(redis, stream, 3000); // keeps arriving during the cut
    // The cut holds until both workers noticed it (a warn line each since the cut) and their
    // reconnection attempts were refused 20 times.
    const noticed = (i: number): boolean => workers[i]!.logs.slice(logsAtCut[i]).some((l) => l.level === 'warn' || l.level === 'error');
    await waitFor(() => noticed(0) && noticed(1) && proxy.refused >= 20, 60_000, 50, 'both workers to notice the cut and retry');
    const doneAtHeal = Number(await redis.hlen('rec:done'));
    const processedAtHeal = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="ok"')));
    proxy.heal();
    const healedAt = Date.now();
    await waitFor(async () => Number(await redis.hlen('rec:done')) > doneAtHeal, 60_000, 50, 'processing resumes after the cut');
    const resumeMs = Date.now() - healedAt;
    // Each worker (same process) takes new entries again: none is wedged.
    const after = await fill(redis, stream, 2000);
    await waitDrained(redis, stream, 'workers', 120_000);
    const processedAfter = await Promise.all(ports.map((p) => metricValue(p, 'stream_workers_events_processed_total', 'outcome="ok"')));
    const ids = [...before, ...during, ...after];
    const c = await counts(redis, 'rec', ids);
    const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null).length;
    console.log(JSON.stringify({ scenario: 'network-cut', events: ids.length, doneAtHeal, resumeMs, processedAtHeal, processedAfter, done: c.done, lost: c.lost.length, duplicates: c.duplicates, workersAlive: alive }));
    expect(doneAtHeal).toBeLessThan(ids.length - after.length); // the cut stopped processing
    expect(alive).toBe(2);
    for (let i = 0; i < 2; i++) expect(processedAfter[i]!).toBeGreaterThan(processedAtHeal[i] || 0);
    expect(c.lost).toEqual([]);
    expect(c.done).toBe(ids.length);
  } finally {
    redis.disconnect();
  }
});
