/**
 * Where a {@link RespClient} connects, asked anew at each connect (its `endpoint` option), for the two
 * topologies whose primary moves:
 *
 * - Sentinel: the sentinels are asked in turn (`SENTINEL get-master-addr-by-name`), starting with the
 *   one that answered last; the client then checks `ROLE` is master (a sentinel may still name the
 *   old primary right after a failover: that connect fails and the next one asks again).
 * - Cluster: the primary owning one key's slot, from `CLUSTER SLOTS` of a seed node (or of a node the
 *   cluster told about), kept until a `MOVED` names the slot's new owner or a connect fails.
 *
 * The lookups use short-lived connections with the same credentials and TLS as the data connection
 * (the sentinels' own user and password for Sentinel).
 */
import type { ConnectionOptions } from 'node:tls';
import { RespClient } from './resp-client';
import type { RedisNode } from './redis-settings';
import { keySlot } from './streams/slots';

/** How to reach the nodes a lookup asks. */
export interface LookupAuth {
  /** ACL user. */
  username?: string;
  /** Password (read at each lookup). */
  password?: () => string | undefined;
  /** TLS options (read at each lookup). */
  tls?: () => ConnectionOptions;
  /** Connect and reply deadline of one lookup in ms; default 2000. */
  timeoutMs?: number;
}

async function ask(node: RedisNode, auth: LookupAuth, command: ReadonlyArray<string | number>): Promise<unknown> {
  const client = new RespClient({
    host: node.host,
    port: node.port,
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
    ...(auth.tls ? { tls: auth.tls } : {}),
    connectTimeoutMs: auth.timeoutMs ?? 2000,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${node.host}:${node.port} did not answer ${String(command[0])} within ${auth.timeoutMs ?? 2000} ms`)), auth.timeoutMs ?? 2000);
    });
    const [reply] = await Promise.race([client.send([command]), deadline]);
    if (reply instanceof Error) throw reply;
    return reply;
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

/** An endpoint function: the current primary of `masterName`, as the sentinels say. */
export function sentinelEndpoint(sentinels: readonly RedisNode[], masterName: string, auth: LookupAuth): () => Promise<RedisNode> {
  let first = 0;
  return async () => {
    const errors: string[] = [];
    for (let i = 0; i < sentinels.length; i++) {
      const at = (first + i) % sentinels.length;
      const s = sentinels[at]!;
      try {
        const reply = await ask(s, auth, ['SENTINEL', 'get-master-addr-by-name', masterName]);
        if (!Array.isArray(reply) || reply.length < 2) throw new Error(`does not know master ${masterName}`);
        first = at;
        return { host: String(reply[0]), port: Number(reply[1]) };
      } catch (err) {
        errors.push(`${s.host}:${s.port}: ${(err as Error).message}`);
      }
    }
    throw new Error(`no sentinel named the primary of ${masterName} (${errors.join('; ')})`);
  };
}

/** A Cluster endpoint: the primary owning `key`'s slot. `moved` tells it of a MOVED reply. */
export interface ClusterEndpoint {
  /** The endpoint function (a RespClient's `endpoint` option). */
  endpoint: (failures: number) => Promise<RedisNode>;
  /** Records the node a `MOVED` named for the slot: the next connect goes there. */
  moved: (target: { slot: number; host: string; port: number }) => void;
}

/** The primary owning `key`'s slot; `seeds` are asked (then the nodes learned from replies) with CLUSTER SLOTS. */
export function clusterEndpoint(seeds: readonly RedisNode[], key: string, auth: LookupAuth): ClusterEndpoint {
  const slot = keySlot(key);
  let owner: RedisNode | undefined;
  const known = new Map(seeds.map((n) => [`${n.host}:${n.port}`, n]));
  return {
    moved: (t) => {
      if (t.slot !== slot) return;
      owner = { host: t.host, port: t.port };
      known.set(`${t.host}:${t.port}`, owner);
    },
    endpoint: async (failures) => {
      if (owner && failures === 0) return owner;
      owner = undefined;
      const errors: string[] = [];
      for (const node of [...known.values()]) {
        try {
          const ranges = (await ask(node, auth, ['CLUSTER', 'SLOTS'])) as unknown[];
          for (const r of ranges) {
            const [start, end, primary] = r as [number, number, [string, number] | undefined];
            if (!primary) continue;
            const p = { host: primary[0] || node.host, port: Number(primary[1]) };
            known.set(`${p.host}:${p.port}`, p);
            if (slot >= Number(start) && slot <= Number(end)) owner = p;
          }
          if (owner) return owner;
          errors.push(`${node.host}:${node.port}: slot ${slot} is not served`);
        } catch (err) {
          errors.push(`${node.host}:${node.port}: ${(err as Error).message}`);
        }
      }
      throw new Error(`no cluster node named the owner of slot ${slot} (key ${key}): ${errors.join('; ')}`);
    },
  };
}
