/**
 * The scrape's own RESP connection: its replies equal ioredis' (entry fields skipped, XINFO STREAM's
 * unused values null), also when every reply arrives cut into 1..7-byte pieces; MULTI/EXEC with an
 * error inside; ACL user + SELECT; a wrong password; a killed server (the next send reconnects);
 * reset() and close(). Shared Redis with unique keys for reads; private redis-servers for the rest.
 */
import Redis from 'ioredis';
import { createRedis, closeRedis, readAllBacklogs, readAllBacklogsOver } from '@stream-workers/core';
import { encodeCommand, replyEnd } from '@stream-workers/core';
import { RespConnection, respOptionsOf } from '../src/resp-connection';
import { choppingProxy, type ChoppingProxy } from '../../../test-support/chopping-proxy';

const proxies: ChoppingProxy[] = [];
/** Port of a proxy to `port` that cuts every reply into 1..7-byte pieces (closed after the file). */
async function choppedPort(port: number): Promise<number> {
  const p = await choppingProxy(port);
  proxies.push(p);
  return p.port;
}
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';

const prefix = uniquePrefix('lagx-resp');
let redis: Redis;

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});
afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

const shared = (): RespConnection => {
  const u = new URL(SHARED_REDIS_URL);
  return new RespConnection({ host: u.hostname, port: Number(u.port || 6379) });
};


async function fixture(name: string): Promise<string> {
  const s = `${prefix}:${name}`;
  for (let i = 0; i < 30; i++) await redis.xadd(s, '*', 'type', 't', 'data', JSON.stringify({ i, s: 'żółć ✓' }), 'n', String(i));
  await redis.xgroup('CREATE', s, 'grüße "g"', '0');
  await redis.xgroup('CREATE', s, 'end', '$');
  await redis.xreadgroup('GROUP', 'grüße "g"', 'c1', 'COUNT', 10, 'STREAMS', s, '>');
  return s;
}

test('respOptionsOf follows the URL core createRedis was given: rediss:// (TLS), ACL user, escaped password, db', async () => {
  const io = createRedis({ url: 'rediss://reader:p%40ss@redis.example:6380/4', role: 'command', overrides: { lazyConnect: true } });
  try {
    // The password and the TLS options are read at each connect (a password file, rotated files): functions.
    const o = respOptionsOf(io, 'x')!;
    expect(o).toEqual({ host: 'redis.example', port: 6380, username: 'reader', password: expect.any(Function), db: 4, tls: expect.any(Function), name: 'x', connectTimeoutMs: 5000 });
    expect([(o.password as () => string)(), (o.tls as () => object)()]).toEqual(['p@ss', {}]);
  } finally {
    io.disconnect();
  }
});

test('encoding and framing: UTF-8 lengths, nested arrays, nulls, values cut short', () => {
  expect(encodeCommand(['XRANGE', 'ż', 5])).toBe('*3\r\n$6\r\nXRANGE\r\n$2\r\nż\r\n$1\r\n5\r\n');
  const reply = Buffer.from('*3\r\n$3\r\nabc\r\n*2\r\n:1\r\n$-1\r\n+OK\r\n:7\r\n');
  expect(replyEnd(reply, 0)).toBe(reply.length - 4);
  expect(replyEnd(reply, reply.length - 4)).toBe(reply.length);
  for (let cut = 0; cut < reply.length - 4; cut++) expect(replyEnd(reply.subarray(0, cut), 0)).toBe(-1);
});

test.each([
  ['direct', false],
  ['through a proxy that cuts replies into 1..7-byte pieces', true],
])('replies equal ioredis\' (%s): entries without fields, XINFO STREAM values core reads, MULTI/EXEC with an error inside', async (_name, chopped) => {
  const s = await fixture(`eq:${chopped ? 'chopped' : 'direct'}`);
  const u = new URL(SHARED_REDIS_URL);
  const conn = chopped ? new RespConnection({ host: '127.0.0.1', port: await choppedPort(Number(u.port || 6379)) }) : shared();
  try {
    const got = await conn.send([
      ['XRANGE', s, '-', '+', 'COUNT', 3],
      ['XINFO', 'STREAM', s],
      ['XINFO', 'GROUPS', s],
      ['XPENDING', s, 'grüße "g"', '-', '+', 1],
      ['XLEN', `${prefix}:missing`],
      ['XINFO', 'GROUPS', `${prefix}:missing`],
      ['MULTI'],
      ['XINFO', 'STREAM', `${prefix}:missing`],
      ['XRANGE', s, '-', '+', 'COUNT', 1],
      ['EXEC'],
    ]);
    const ids = (await redis.xrange(s, '-', '+', 'COUNT', 3)).map(([id]) => id);
    expect(got[0]).toEqual([null, ids.map((id) => [id, null])]);
    const info = got[1]![1] as unknown[];
    const ioInfo = (await redis.xinfo('STREAM', s)) as unknown[];
    for (let i = 0; i < ioInfo.length; i += 2) {
      const k = ioInfo[i] as string;
      expect(info[i]).toBe(k);
      if (k === 'first-entry' || k === 'last-entry') expect(info[i + 1]).toEqual([(ioInfo[i + 1] as unknown[])[0], null]);
      else if (k === 'length' || k === 'entries-added') expect(info[i + 1]).toEqual(ioInfo[i + 1]);
      else expect(info[i + 1]).toBeNull();
    }
    expect(got[2]).toEqual([null, await redis.xinfo('GROUPS', s)]);
    const [[pid, consumer, , deliveries]] = (await redis.xpending(s, 'grüße "g"', '-', '+', 1)) as [[string, string, number, number]];
    expect(got[3]).toEqual([null, [[pid, consumer, expect.any(Number), deliveries]]]); // the idle time moves on
    expect(got[4]).toEqual([null, 0]);
    expect(got[5]![0]).toMatchObject({ name: 'ReplyError', message: expect.stringMatching(/no such key/) });
    expect(got.slice(6, 9).map((r) => r[1])).toEqual(['OK', 'QUEUED', 'QUEUED']);
    const [execErr, exec] = got[9]!;
    expect(execErr).toBeNull();
    expect((exec as unknown[])[0]).toMatchObject({ name: 'ReplyError', message: expect.stringMatching(/no such key/) });
    expect((exec as unknown[])[1]).toEqual([[ids[0], null]]);
  } finally {
    conn.close();
  }
});

test('readAllBacklogsOver on this connection gives what readAllBacklogs gives on ioredis (script and commands), also cut into pieces', async () => {
  const streams = [await fixture('same:a'), await fixture('same:b'), `${prefix}:same:missing`];
  await redis.set(`${prefix}:same:string`, 'x');
  streams.push(`${prefix}:same:string`);
  const u = new URL(SHARED_REDIS_URL);
  const direct = shared();
  const chopped = new RespConnection({ host: '127.0.0.1', port: await choppedPort(Number(u.port || 6379)) });
  try {
    const NOW = Date.now();
    const viaScript = await readAllBacklogs(redis, streams, { nowMs: NOW });
    expect(viaScript.map((s) => s.stream)).toEqual(streams.slice(0, 2));
    expect(await readAllBacklogs(redis, streams, { nowMs: NOW, mode: 'commands' })).toEqual(viaScript);
    expect(await readAllBacklogsOver(direct, streams, { nowMs: NOW })).toEqual(viaScript);
    expect(await readAllBacklogsOver(chopped, streams, { nowMs: NOW })).toEqual(viaScript);
  } finally {
    direct.close();
    chopped.close();
  }
});

describe('private redis-server', () => {
  let server: PrivateRedis;
  let admin: Redis;

  beforeEach(async () => {
    server = await PrivateRedis.start();
    admin = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on('error', () => undefined);
  });
  afterEach(async () => {
    if (admin.status !== 'end') admin.disconnect();
    await server.stop();
  });

  test('ACL user and SELECT from the ioredis options (respOptionsOf), CLIENT SETNAME; a wrong password fails the send', async () => {
    await admin.acl('SETUSER', 'reader', 'on', '>s3cret', '~*', '+@all');
    await admin.select(3);
    await admin.xadd('s', '1-0', 'n', '1');
    const io = createRedis({ url: server.url.replace('redis://', 'redis://reader:s3cret@') + '/3', role: 'command', name: 'lag-exporter' });
    const opts = respOptionsOf(io, 'lag-exporter:scrape')!;
    expect(opts).toMatchObject({ host: '127.0.0.1', port: server.port, username: 'reader', db: 3, name: 'lag-exporter:scrape' });
    expect((opts.password as () => string)()).toBe('s3cret');
    const conn = new RespConnection(opts);
    try {
      expect(await conn.send([['XLEN', 's'], ['ACL', 'WHOAMI']])).toEqual([[null, 1], [null, 'reader']]);
      expect(await admin.client('LIST')).toMatch(/name=lag-exporter:scrape .*user=reader/);
    } finally {
      conn.close();
      await closeRedis(io);
    }
    const wrong = new RespConnection({ ...opts, password: 'nope' });
    await expect(wrong.send([['XLEN', 's']])).rejects.toThrow(/WRONGPASS/);
    expect(wrong.connected).toBe(false);
    wrong.close();
  });

  test('a killed server fails the sends in flight and the next ones until it is back; then the next send reconnects', async () => {
    await admin.xadd('s', '1-0', 'n', '1');
    const conn = new RespConnection({ host: '127.0.0.1', port: server.port, connectTimeoutMs: 1000 });
    try {
      expect(await conn.send([['XLEN', 's']])).toEqual([[null, 1]]);
      process.kill(server.pid!, 'SIGSTOP'); // the next command stays in flight
      const inFlight = conn.send([['XLEN', 's']]); // written at once: the connection is up
      process.kill(server.pid!, 'SIGKILL');
      await expect(inFlight).rejects.toThrow(/closed|ECONNRESET/);
      // Refused, or (while the killed process is still being torn down) accepted and then reset.
      await expect(conn.send([['XLEN', 's']])).rejects.toThrow(/ECONNREFUSED|ECONNRESET|closed/);
      await server.startProcess();
      expect(await conn.send([['XLEN', 's']])).toEqual([[null, 0]]); // no persistence: a new, empty server
    } finally {
      conn.close();
    }
  });

  test('reset() fails the commands in flight and reconnects on the next send; close() is final', async () => {
    const conn = new RespConnection({ host: '127.0.0.1', port: server.port });
    expect(await conn.send([['PING']])).toEqual([[null, 'PONG']]);
    process.kill(server.pid!, 'SIGSTOP');
    try {
      const inFlight = conn.send([['PING']]); // written at once: the connection is up
      conn.reset('scrape timed out');
      await expect(inFlight).rejects.toThrow('scrape timed out');
      expect(conn.connected).toBe(false);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
    expect(await conn.send([['PING']])).toEqual([[null, 'PONG']]);
    conn.close();
    conn.close();
    await expect(conn.send([['PING']])).rejects.toThrow(/closed/);
  });
});
