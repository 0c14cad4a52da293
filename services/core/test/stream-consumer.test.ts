/**
 * StreamConsumer: the worker's read connection, which speaks RESP2 itself. Against the shared Redis
 * (unique keys), a private redis-server (ACL user, SELECT), and two small TCP servers written here:
 * a proxy that cuts every reply into random small pieces, and a server that answers the connection
 * set-up and then never replies (a dead link).
 */
import Redis from 'ioredis';
import { createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { StreamConsumer, WedgedReadError, isNoGroupError, type RawEntry } from '../src/streams/consumer';
import { replyEnd } from '../src/resp';
import { LocalRedis } from '../src/local-redis';
import { choppingProxy, type ChoppingProxy } from '../../../test-support/chopping-proxy';
import { waitFor } from '../../../test-support/process';
import { SAMPLE_REPLIES } from './support/resp-samples';

const proxies: ChoppingProxy[] = [];
/** Port of a proxy to `port` that cuts every reply into 1..7-byte pieces (closed after the file). */
async function choppedPort(port: number): Promise<number> {
  const p = await choppingProxy(port);
  proxies.push(p);
  return p.port;
}

const SHARED = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `test:stream-consumer:${process.pid}:${Date.now().toString(36)}`;
let redis: Redis;
const servers: Server[] = [];
const sockets = new Set<Socket>();

beforeAll(() => {
  redis = new Redis(SHARED);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  for (const s of sockets) s.destroy();
  await Promise.all(proxies.map((p) => p.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}


async function setup(name: string, n: number): Promise<{ stream: string; ids: string[] }> {
  const stream = `${prefix}:${name}`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await redis.xadd(stream, '*', 'type', 't', 'data', JSON.stringify({ i, s: 'żółć ✓ ' + 'x'.repeat(i % 50) })))!);
  return { stream, ids };
}

test('entries read through a proxy that cuts replies into 1..7-byte pieces equal a plain client\'s XREADGROUP; deleted pending entries come back with null fields', async () => {
  const { stream, ids } = await setup('chop', 300);
  const port = await choppedPort(6379);
  const c = new StreamConsumer({ url: `redis://127.0.0.1:${port}`, stream, group: 'g', consumer: 'a', blockMs: 50, name: 'chop test' });
  try {
    const got: RawEntry[] = [];
    for (let r = 0; r < 10; r++) got.push(...(await c.read(100)));
    expect(got.map(([id]) => id)).toEqual(ids);
    const expected = (await redis.xrange(stream, '-', '+')) as RawEntry[];
    expect(got).toEqual(expected);
    // Two of them deleted while pending: the pending read returns them with null fields.
    await redis.xdel(stream, ids[3]!, ids[200]!);
    const pending: RawEntry[] = [];
    for (let cursor = '0'; ; ) {
      const page = await c.read(64, cursor);
      if (page.length === 0) break;
      pending.push(...page);
      cursor = page[page.length - 1]![0];
    }
    expect(pending).toHaveLength(300);
    expect(pending.filter(([, f]) => f === null).map(([id]) => id)).toEqual([ids[3], ids[200]]);
  } finally {
    c.close();
  }
});

test('ASCII-only batches (copied as latin1) and batches with UTF-8 values (decoded as UTF-8) both equal a plain client\'s reply', async () => {
  const stream = `${prefix}:mixed`;
  await redis.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  // Batches of 10: even batches pure ASCII, odd ones with one non-ASCII value among ASCII ones.
  for (let i = 0; i < 60; i++) {
    const odd = Math.floor(i / 10) % 2 === 1 && i % 10 === 7;
    await redis.xadd(stream, '*', 'type', 't', 'source', odd ? 'zürich' : 'basel', 'data', JSON.stringify({ i, s: odd ? '✓ é' : 'plain ~!@#$%^&*()' }));
  }
  const c = new StreamConsumer({ url: SHARED, stream, group: 'g', consumer: 'a', blockMs: 50 });
  try {
    const got: RawEntry[] = [];
    for (let r = 0; r < 6; r++) got.push(...(await c.read(10)));
    expect(got).toEqual((await redis.xrange(stream, '-', '+')) as RawEntry[]);
    expect(got.filter(([, f]) => f![3] === 'zürich')).toHaveLength(3);
  } finally {
    c.close();
  }
});


test('replyEnd finds the end of one complete RESP2 reply and answers -1 for every strict prefix of it', async () => {
  const replies = SAMPLE_REPLIES;
  for (const r of replies) {
    const b = Buffer.from(r, 'utf8');
    expect(replyEnd(b)).toBe(b.length);
    expect(replyEnd(Buffer.concat([b, Buffer.from('+OK\r\n')]))).toBe(b.length);
    for (let cut = 0; cut < b.length; cut++) expect([r, cut, replyEnd(b.subarray(0, cut))]).toEqual([r, cut, -1]);
  }
});

test('an error reply (NOGROUP) rejects that read only; the same connection reads on once the group exists', async () => {
  const stream = `${prefix}:nogroup`;
  const c = new StreamConsumer({ url: SHARED, stream, group: 'g', consumer: 'a', blockMs: 20 });
  try {
    const err = await c.read(10).catch((e: unknown) => e);
    expect(isNoGroupError(err)).toBe(true);
    expect(c.connected).toBe(true);
    await redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
    await redis.xadd(stream, '*', 'k', 'v');
    expect((await c.read(10, undefined, false)).map(([, f]) => f)).toEqual([['k', 'v']]);
  } finally {
    c.close();
  }
});

test('a private redis-server with an ACL user and a database index: AUTH user pass and SELECT from the URL; a wrong password fails the read naming WRONGPASS', async () => {
  const server = await LocalRedis.start({ args: ['--appendonly', 'no'] });
  const admin = new Redis(server.url);
  try {
    await admin.call('ACL', 'SETUSER', 'reader', 'on', '>s3cret', '~*', '+@all');
    const db3 = new Redis(`${server.url}/3`);
    await db3.xgroup('CREATE', 'st', 'g', '0', 'MKSTREAM');
    await db3.xadd('st', '*', 'k', 'in-db-3');
    db3.disconnect();
    const u = new URL(server.url);
    const c = new StreamConsumer({ url: `redis://reader:s3cret@${u.host}/3`, stream: 'st', group: 'g', consumer: 'a', blockMs: 20, name: 'acl-test' });
    expect((await c.read(10)).map(([, f]) => f)).toEqual([['k', 'in-db-3']]);
    const list = String(await admin.call('CLIENT', 'LIST'));
    expect(list).toMatch(/name=acl-test .*user=reader/);
    c.close();
    const bad = new StreamConsumer({ url: `redis://reader:wrong@${u.host}/3`, stream: 'st', group: 'g', consumer: 'a', blockMs: 20 });
    await expect(bad.read(10)).rejects.toThrow(/WRONGPASS/);
    bad.close();
  } finally {
    admin.disconnect();
    await server.stop();
  }
});

test('a server that completes the connection set-up and then never replies (a dead link): the read fails with WedgedReadError after BLOCK + margin, and the next read connects anew', async () => {
  let connections = 0;
  const port = await listen(
    createServer((s) => {
      sockets.add(s);
      connections += 1;
      // Answers CLIENT SETNAME and CLIENT ID like Redis; swallows everything else.
      s.on('data', (d: Buffer) => {
        const text = d.toString();
        if (text.includes('SETNAME')) s.write('+OK\r\n');
        if (/\$2\r\nID\r\n/.test(text)) s.write(':42\r\n');
      });
    }),
  );
  const c = new StreamConsumer({ url: `redis://127.0.0.1:${port}`, stream: 's', group: 'g', consumer: 'a', blockMs: 50, wedgeMarginMs: 200, name: 'dead-link' });
  try {
    await expect(c.read(10)).rejects.toBeInstanceOf(WedgedReadError);
    expect(c.connected).toBe(false);
    await expect(c.read(10)).rejects.toBeInstanceOf(WedgedReadError);
    expect(connections).toBe(2);
  } finally {
    c.close();
  }
});

test('close() fails a read blocked in XREADGROUP and later reads; nothing is left open', async () => {
  const { stream } = await setup('close', 0);
  const name = `close-test-${process.pid}`;
  const c = new StreamConsumer({ url: SHARED, stream, group: 'g', consumer: 'a', blockMs: 10_000, name });
  const blocked = c.read(10);
  // Wait until Redis shows the read blocked (CLIENT LIST: flags b, cmd xreadgroup).
  await waitFor(async () => {
    const line = String(await redis.client('LIST')).split('\n').find((l) => l.includes(` name=${name} `));
    return line !== undefined && / flags=\S*b/.test(line) && / cmd=xreadgroup/.test(line);
  }, 10_000, 10, 'read blocked in XREADGROUP');
  c.close();
  await expect(blocked).rejects.toThrow(/closed/);
  await expect(c.read(10)).rejects.toThrow(/closed/);
  expect(c.connected).toBe(false);
});
