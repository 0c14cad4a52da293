/**
 * The connections of issue 17 against real topologies (redis-server processes started here): a
 * Sentinel-managed primary and a 3-primary Cluster. The command connection (ioredis: Redis with
 * `sentinels`, or Cluster) and the project's own RespClient (respOptionsFor: the Sentinel lookup, the
 * owner of a key's slot) both reach the primary, follow it after a failover or a MOVED, and read the
 * password file again at each connect (where ioredis keeps it: `options.password` of a Redis,
 * `options.redisOptions` of a Cluster, copied into each node connection it makes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from 'ioredis';
import { RespClient, closeRedis, createRedis, keySlot, parseRedisSettings, respOptionsFor, type RedisConnection } from '../src';
import { command, startCluster, startSentinelSet, until, type ClusterSet, type SentinelSet } from '../../../test-support/redis-topologies';

const dir = mkdtempSync(join(tmpdir(), 'topologies-'));
const open: Array<RedisConnection | RespClient> = [];
afterAll(async () => {
  for (const c of open) if (c instanceof RespClient) c.close();
  else await closeRedis(c);
  rmSync(dir, { recursive: true, force: true });
});

describe('Sentinel', () => {
  let set: SentinelSet;
  beforeAll(async () => {
    set = await startSentinelSet({ replicas: 1, sentinels: 3 });
  });
  afterAll(() => set?.stop());

  test('both connections find the primary, and find the new one after the old was SIGKILLed', async () => {
    const settings = parseRedisSettings({ REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_MASTER: set.masterName });
    const redis = createRedis({ settings, role: 'command', name: 'topologies' });
    const resp = new RespClient(respOptionsFor(settings, { name: 'topologies-resp' }));
    open.push(redis, resp);
    await redis.set('k', 'before');
    expect(await resp.send([['GET', 'k']])).toEqual(['before']);
    expect(resp.where).toBe(`127.0.0.1:${set.primary.port}`);

    await until('replica has the write', async () => (await command(set.replicas[0]!.port, ['GET', 'k'])) === 'before');
    await set.primary.kill('SIGKILL');
    await until('a sentinel names the replica', async () => (await set.primaryPort()) === set.replicas[0]!.port, 60_000);
    await until('the command connection writes again', async () => (await redis.set('k', 'after')) === 'OK', 30_000);
    await until('the RespClient reads from the new primary', async () => {
      const [v] = await resp.send([['GET', 'k']]);
      return v === 'after';
    }, 30_000);
    expect(resp.where).toBe(`127.0.0.1:${set.replicas[0]!.port}`);
  });
});

describe('Cluster', () => {
  let cluster: ClusterSet;
  const pwFile = join(dir, 'cluster-pw');
  beforeAll(async () => {
    cluster = await startCluster({ primaries: 3, password: 'first' });
  });
  afterAll(() => cluster?.stop());

  test('ioredis Cluster and the RespClient of a key reach the slot owner; a MOVED is followed by reconnecting', async () => {
    writeFileSync(pwFile, 'first\n');
    const settings = parseRedisSettings({ REDIS_CLUSTER_NODES: cluster.nodeList.split(',')[0]!, REDIS_PASSWORD_FILE: pwFile });
    const redis = createRedis({ settings, role: 'command', name: 'topologies' }) as Cluster;
    open.push(redis);
    const keys = ['{a}', '{b}', '{c}', '{d}', '{e}', '{f}'];
    for (const k of keys) await redis.set(k, k);
    const owners = new Set<string>();
    for (const k of keys) {
      const resp = new RespClient(respOptionsFor(settings, { key: k }));
      open.push(resp);
      expect(await resp.send([['GET', k]])).toEqual([k]);
      owners.add(resp.where!);
    }
    expect(owners.size).toBeGreaterThan(1); // the keys live on several primaries, and each client went to its key's

    // Move the slot of {a} to another primary: the RespClient gets MOVED, reconnects to the new owner.
    const resp = new RespClient(respOptionsFor(settings, { key: '{a}' }));
    open.push(resp);
    await resp.send([['GET', '{a}']]);
    const from = Number(resp.where!.split(':')[1]);
    const to = cluster.nodes.find((n) => n.port !== from)!.port;
    const auth = { password: 'first' };
    const slot = keySlot('{a}');
    const id = async (port: number) => String(await command(port, ['CLUSTER', 'MYID'], auth));
    const [fromId, toId] = [await id(from), await id(to)];
    await command(to, ['CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId], auth);
    await command(from, ['CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId], auth);
    await command(from, ['MIGRATE', '127.0.0.1', to, '', 0, 5000, 'AUTH', 'first', 'KEYS', '{a}'], auth);
    for (const n of cluster.nodes) await command(n.port, ['CLUSTER', 'SETSLOT', slot, 'NODE', toId], auth);
    const [moved] = await resp.send([['GET', '{a}']]);
    expect((moved as Error).message).toMatch(/^MOVED /);
    expect(await resp.send([['GET', '{a}']])).toEqual(['{a}']);
    expect(resp.where).toBe(`127.0.0.1:${to}`);
  });

  test("a rotated password is read from the file when a node connection is made again (the Cluster's redisOptions)", async () => {
    writeFileSync(pwFile, 'first\n');
    const settings = parseRedisSettings({ REDIS_CLUSTER_NODES: cluster.nodeList, REDIS_PASSWORD_FILE: pwFile });
    const redis = createRedis({ settings, role: 'command', name: 'rotation' }) as Cluster;
    open.push(redis);
    await redis.set('{r}', '1');
    for (const n of cluster.nodes) await command(n.port, ['CONFIG', 'SET', 'requirepass', 'second'], { password: 'first' });
    writeFileSync(pwFile, 'second\n');
    for (const n of cluster.nodes) await command(n.port, ['CLIENT', 'KILL', 'TYPE', 'normal'], { password: 'second' }).catch(() => undefined);
    await until('the cluster connection works with the new password', async () => (await redis.get('{r}')) === '1', 30_000);
    const resp = new RespClient(respOptionsFor(settings, { key: '{r}' }));
    open.push(resp);
    expect(await resp.send([['GET', '{r}']])).toEqual(['1']);
  });
});
