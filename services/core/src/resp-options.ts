/**
 * Options of a {@link RespClient} from what the rest of the project has: the Redis settings (any
 * topology: {@link respOptionsFor}), a Redis URL, or an ioredis client made by {@link createRedis} (the
 * exporter's scrape connection to the same server).
 *
 * `respOptionsFor(settings, { key, name })` is the one entry point for a connection of the project's
 * own client: with one server it connects there; with Sentinel it asks the sentinels for the primary
 * at each connect and checks `ROLE`; with a Cluster it connects to the primary owning `key`'s slot and
 * follows a `MOVED` by reconnecting (a Cluster connection without a key is refused: it would not know
 * which node to read). The password and the TLS files are read at each connect.
 */
import type Redis from 'ioredis';
import type { ConnectionOptions } from 'node:tls';
import { settingsOf, type RedisConnection } from './redis';
import { RedisCredentials } from './redis-credentials';
import type { RedisSettings } from './redis-settings';
import type { RespClientOptions } from './resp-client';
import { clusterEndpoint, sentinelEndpoint } from './resp-endpoints';

/** What {@link respOptionsFor} needs besides the settings. */
export interface RespOptionsFor {
  /** The key the connection works on: in a Cluster, the connection goes to the primary owning its slot (required there). */
  key?: string;
  /** CLIENT SETNAME of the connection. */
  name?: string;
  /** Connect (TCP, TLS, hello) deadline in ms; default 5000. */
  connectTimeoutMs?: number;
  /** Reports a credential file that cannot be read at connect time (the last value read is used). */
  onCredentialError?: (file: string, err: Error) => void;
}

/** {@link RespClient} options for any topology; see the file comment. Throws for a Cluster without `key`. */
export function respOptionsFor(settings: RedisSettings, o: RespOptionsFor = {}): RespClientOptions {
  const creds = new RedisCredentials(settings, o.onCredentialError);
  const tls = settings.tls ? { tls: () => creds.tls() ?? {} } : {};
  const base = {
    ...(settings.username ? { username: settings.username } : {}),
    password: () => creds.password(),
    ...tls,
    ...(o.name ? { name: o.name } : {}),
    connectTimeoutMs: o.connectTimeoutMs ?? 5000,
  };
  const t = settings.topology;
  if (t.kind === 'single') return { host: t.host, port: t.port, ...(t.db > 0 ? { db: t.db } : {}), ...base };
  const lookupTimeoutMs = Math.min(2000, o.connectTimeoutMs ?? 2000);
  if (t.kind === 'sentinel') {
    const sentinelAuth = {
      ...(t.sentinelUsername ? { username: t.sentinelUsername } : {}),
      ...(t.sentinelPassword !== undefined ? { password: () => t.sentinelPassword } : {}),
      ...tls,
      timeoutMs: lookupTimeoutMs,
    };
    const first = t.sentinels[0]!;
    return { host: first.host, port: first.port, ...base, role: 'master', endpoint: sentinelEndpoint(t.sentinels, t.masterName, sentinelAuth) };
  }
  if (o.key === undefined) throw new Error('respOptionsFor: a Redis Cluster connection needs the key it works on (option key)');
  const cluster = clusterEndpoint(t.nodes, o.key, { ...(settings.username ? { username: settings.username } : {}), password: () => creds.password(), ...tls, timeoutMs: lookupTimeoutMs });
  const first = t.nodes[0]!;
  return { host: first.host, port: first.port, ...base, endpoint: cluster.endpoint, onRedirect: cluster.moved };
}

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
 * The options for a second connection to where a command connection goes: from the settings it was
 * made from ({@link createRedis}: one server or Sentinel; undefined for a Cluster, where a connection
 * without a key has no node to go to and the caller keeps using the ioredis Cluster), else from an
 * ioredis client's own options (host, port or Unix path, ACL user, password, db, TLS).
 */
export function respOptionsOf(client: RedisConnection, name?: string): RespClientOptions | undefined {
  const settings = settingsOf(client);
  if (settings) return settings.topology.kind === 'cluster' ? undefined : respOptionsFor(settings, { ...(name ? { name } : {}), connectTimeoutMs: (client.options as { connectTimeout?: number }).connectTimeout ?? 5000 });
  if ((client as { isCluster?: boolean }).isCluster) return undefined;
  const redis = client as Redis;
  const o = redis.options as Omit<Redis['options'], 'tls' | 'db'> & { sentinels?: unknown[] | null; tls?: ConnectionOptions | boolean; db?: number | string };
  if (o.sentinels && o.sentinels.length > 0) return undefined;
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
