/** Which streams a list of names and Redis glob patterns means: the one place stream globs are recognised and matched. */
import type Redis from 'ioredis';
import { exec, replyOf } from './lag-replies';
import { isClusterClient } from './slots';
import type { RedisConnection } from '../redis';

const GLOB = /[*?[\]\\]/;

/** True when `name` is a Redis glob pattern (holds `*`, `?`, `[`, `]` or `\`), not a plain stream name. */
export function isStreamGlob(name: string): boolean {
  return GLOB.test(name);
}

/** A Redis glob pattern (`*`, `?`, `[a-z]`, `\` escapes) as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]!);
    else if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        let body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (body.startsWith('^')) body = '^' + body.slice(1); // RedisConnection negates with ^ as RegExp does
        re += `[${body}]`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Stream names for `patterns`: glob patterns via `SCAN 0 MATCH <pattern> TYPE stream COUNT 1000`
 * (Redis ≥ 6), plain names kept when they are streams (`TYPE`, pipelined). Sorted, without duplicates.
 * On a Redis Cluster client every primary is scanned (a key is on one primary; a key seen twice while
 * its slot moves is reported once) and each plain name is checked on its own node.
 */
export async function discoverStreams(redis: RedisConnection, patterns: string[]): Promise<string[]> {
  const names = new Set<string>();
  const literals = patterns.filter((p) => !isStreamGlob(p));
  const globs = patterns.filter(isStreamGlob);
  const nodes: Redis[] = isClusterClient(redis) ? redis.nodes('master') : [redis];
  await Promise.all(nodes.map((node) => scanNode(node, globs, names)));
  if (literals.length > 0) {
    if (isClusterClient(redis)) {
      // Plain commands, each routed to its key's node (a cluster pipeline must stay within one slot).
      const types = await Promise.all(literals.map((l) => redis.type(l).catch(() => 'none')));
      literals.forEach((l, i) => {
        if (types[i] === 'stream') names.add(l);
      });
    } else {
      const p = redis.pipeline();
      for (const l of literals) p.type(l);
      const types = await exec(p);
      literals.forEach((l, i) => {
        const r = replyOf(types[i]);
        if (r.ok && r.value === 'stream') names.add(l);
      });
    }
  }
  return [...names].sort();
}

async function scanNode(node: Redis, globs: string[], names: Set<string>): Promise<void> {
  for (const pattern of globs) {
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = (await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream')) as [string, string[]];
      cursor = next;
      for (const k of keys) names.add(k);
      rounds += 1;
    } while (cursor !== '0' && rounds < 1_000_000);
  }
}
