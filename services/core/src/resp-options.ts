/**
 * Options of a {@link RespClient} from what the rest of the project has: a Redis URL (the worker's
 * read connection) or an ioredis client made by {@link createRedis} (the exporter's scrape connection
 * to the same server).
 */
import type Redis from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import type { RespClientOptions } from './resp-client';

/** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS, Node's defaults: system CAs, SNI from the host). */
export function respOptionsFromUrl(url: string): RespClientOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid Redis URL: ${url.replace(/\/\/[^@/]*@/, '//***@')}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`unsupported Redis URL scheme ${u.protocol}`);
  const db = Number(u.pathname.replace(/^\//, '') || 0);
  if (!Number.isInteger(db) || db < 0) throw new Error(`Redis URL: database index ${JSON.stringify(u.pathname.slice(1))} is not a non-negative integer`);
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(u.port || 6379),
    ...(username && password ? { username } : {}),
    ...(password ? { password } : {}),
    ...(db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * The options of an ioredis client made by core `createRedis` (host, port or Unix path, ACL user,
 * password, db, TLS), for a second connection to the same server; undefined for what a
 * {@link RespClient} does not follow yet (Sentinel, Cluster).
 */
export function respOptionsOf(redis: Redis, name?: string): RespClientOptions | undefined {
  const o = redis.options as Omit<Redis['options'], 'tls' | 'db'> & { sentinels?: unknown[] | null; tls?: ConnectionOptions | boolean; db?: number | string };
  if ((o.sentinels && o.sentinels.length > 0) || (redis as unknown as { isCluster?: boolean }).isCluster) return undefined;
  const db = Number(o.db ?? 0);
  return {
    host: o.host ?? '127.0.0.1',
    port: Number(o.port ?? 6379),
    ...(o.path ? { path: o.path } : {}),
    ...(o.username ? { username: o.username } : {}),
    ...(o.password ? { password: o.password } : {}),
    ...(db > 0 ? { db } : {}),
    // `rediss://` gives `tls: true` (Node's defaults: verified against the system CAs, SNI from the host).
    ...(o.tls ? { tls: typeof o.tls === 'object' ? o.tls : {} } : {}),
    ...(name ? { name } : {}),
    connectTimeoutMs: o.connectTimeout ?? 5000,
  };
}
