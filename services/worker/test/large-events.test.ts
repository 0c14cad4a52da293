/**
 * Large events through the embeddable worker, in this process against the shared Redis (a unique
 * stream): 60 events of 256 KiB at batchSize 100 arrive whole, once each, and every read asks for at
 * most READ_MAX_REPLY_BYTES worth of entries (the XREADGROUP COUNTs are read back from a proxy in
 * front of Redis that records the commands of the worker's read connection).
 */
import { Registry } from 'prom-client';
import { createLogger } from '../../core/src';
import { SHARED_REDIS_URL, useSharedRedis } from '../../../test-support/redis';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { createWorker } from '../src';
import { READ_MAX_REPLY_BYTES } from '../src/read-loop';
import { fill, waitDrained } from './support';


/** The complete commands (RESP arrays of bulk strings) at the start of `b`, and how many bytes they took. */
function parseCommands(b: Buffer): { commands: string[][]; used: number } {
  const commands: string[][] = [];
  let o = 0;
  for (;;) {
    const start = o;
    const line = (): number | undefined => {
      const end = b.indexOf('\r\n', o);
      if (end < 0) return undefined;
      const n = Number(b.toString('latin1', o + 1, end));
      o = end + 2;
      return n;
    };
    const n = line();
    if (n === undefined) return { commands, used: start };
    const args: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = line();
      if (len === undefined || o + len + 2 > b.length) return { commands, used: start };
      args.push(b.toString('utf8', o, o + len));
      o += len + 2;
    }
    commands.push(args);
  }
}

/** A TCP proxy to `port` that records every command its clients send. */
async function recordingProxy(port: number): Promise<{ port: number; commands: string[][]; close(): Promise<void> }> {
  const commands: string[][] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let pending = Buffer.alloc(0);
    client.on('data', (d: Buffer) => {
      upstream.write(d);
      pending = Buffer.concat([pending, d]); // requests are small here
      const r = parseCommands(pending);
      commands.push(...r.commands);
      pending = pending.subarray(r.used);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
const { prefix, redis } = useSharedRedis('large-events');

test('60 events of 256 KiB at batchSize 100, through a proxy: each handled once with its whole data; every read asks for at most 4 MiB of entries', async () => {
  const stream = `${prefix}:events`;
  const pad = 'x'.repeat(256 * 1024);
  const ids = await fill(redis, stream, 60, () => 'big', (i) => ({ i, pad }));
  const u = new URL(SHARED_REDIS_URL);
  const proxy = await recordingProxy(Number(u.port || 6379));
  const seen = new Map<string, number>();
  const logger = createLogger({ service: 'worker-test', level: 'warn', destination: { write: () => undefined } });
  const worker = await createWorker(
    { redisUrl: `redis://127.0.0.1:${proxy.port}`, stream, group: 'g', consumer: 'a', batchSize: 100, blockMs: 100, logger, registry: new Registry() },
    (event) => {
      const data = event.data as { i: number; pad: string };
      expect(data.pad).toBe(pad);
      seen.set(event.id, (seen.get(event.id) ?? 0) + 1);
    },
  );
  try {
    await waitDrained(redis, stream, 'g', 120_000);
  } finally {
    await worker.close();
    await proxy.close();
  }
  expect([...seen.keys()].sort()).toEqual([...ids].sort());
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  // The COUNT of every XREADGROUP (own pending list first, then new entries): none asks for more than 4 MiB of these entries.
  const counts = proxy.commands.filter((c) => c[0]?.toUpperCase() === 'XREADGROUP').map((c) => Number(c[c.indexOf('COUNT') + 1]));
  expect(counts.length).toBeGreaterThan(1);
  const entryBytes = 256 * 1024;
  for (const n of counts) expect(n * entryBytes).toBeLessThanOrEqual(READ_MAX_REPLY_BYTES);
});
