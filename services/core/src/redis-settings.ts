/**
 * Where and how every connection of a service reaches Redis, from its environment: one parser for all
 * services (through `commonSpecs`, so the README tables list the variables) and for code that passes
 * settings itself (`createWorker({ redis })`). Three topologies:
 *
 * - one server: `REDIS_URL` (the default `redis://127.0.0.1:6379`, as before);
 * - Sentinel: `REDIS_SENTINELS` (`host:port,…`) + `REDIS_SENTINEL_MASTER` (+ optional
 *   `REDIS_SENTINEL_USERNAME` / `REDIS_SENTINEL_PASSWORD`, the sentinels' own credentials);
 * - Cluster: `REDIS_CLUSTER_NODES` (`host:port,…`, seed nodes; the others are discovered).
 *
 * Credentials (`REDIS_USERNAME`, `REDIS_PASSWORD` or `REDIS_PASSWORD_FILE`, re-read at each connect)
 * and TLS (`REDIS_TLS`, `REDIS_TLS_CA_FILE`, `REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`,
 * `REDIS_TLS_SERVERNAME`) apply to every topology. A combination that is conflicting or incomplete is a
 * configuration error naming the variables (exit code 2); the rules are listed in docs/redis.md.
 * Reading the files at connect time: redis-credentials.ts.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigConflictError, ConfigError, ConfigErrors, bool, redisUrl, type Env } from './config';

/** A `host:port` of a sentinel or a cluster node. */
export interface RedisNode {
  /** Host name or IP address (IPv6 without brackets). */
  host: string;
  /** TCP port. */
  port: number;
}

/** Where Redis is: one server, a Sentinel-managed primary, or a Cluster. */
export type RedisTopology =
  | {
      /** One server (`REDIS_URL`). */
      kind: 'single';
      /** Host of the server. */
      host: string;
      /** Port of the server. */
      port: number;
      /** Database index (SELECT); 0 unless the URL names another. */
      db: number;
    }
  | {
      /** A primary found through Sentinel (`REDIS_SENTINELS`). */
      kind: 'sentinel';
      /** The sentinels asked, in order. */
      sentinels: RedisNode[];
      /** The master name the sentinels monitor (`REDIS_SENTINEL_MASTER`). */
      masterName: string;
      /** ACL user of the sentinels (`REDIS_SENTINEL_USERNAME`). */
      sentinelUsername?: string;
      /** Password of the sentinels (`REDIS_SENTINEL_PASSWORD`). */
      sentinelPassword?: string;
    }
  | {
      /** A Redis Cluster (`REDIS_CLUSTER_NODES`). */
      kind: 'cluster';
      /** Seed nodes; the others are discovered with CLUSTER SLOTS. */
      nodes: RedisNode[];
    };

/** TLS towards Redis (and the sentinels). Files are read at each connect (rotated certificates are picked up). */
export interface RedisTlsSettings {
  /** PEM file of the CA(s) that signed the server certificate (`REDIS_TLS_CA_FILE`); default the system CAs. */
  caFile?: string;
  /** PEM client certificate (`REDIS_TLS_CERT_FILE`), for servers that require one (`tls-auth-clients yes`). */
  certFile?: string;
  /** PEM private key of the client certificate (`REDIS_TLS_KEY_FILE`). */
  keyFile?: string;
  /** The name the server certificate must carry (`REDIS_TLS_SERVERNAME`); default the host connected to. */
  servername?: string;
}

/** Everything a connection needs: where, who, and how. */
export interface RedisSettings {
  /** The topology. */
  topology: RedisTopology;
  /** ACL user of the data nodes (`REDIS_USERNAME`, or the URL's user). */
  username?: string;
  /** Password of the data nodes (`REDIS_PASSWORD`, or the URL's password). */
  password?: string;
  /** File holding the password (`REDIS_PASSWORD_FILE`, a mounted Secret): read again at every connect. */
  passwordFile?: string;
  /** TLS settings; undefined: plain TCP. */
  tls?: RedisTlsSettings;
}

/** The default of `REDIS_URL`. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const URL_SPEC = redisUrl('REDIS_URL', { description: 'Redis URL', default: DEFAULT_REDIS_URL });
const TLS_SPEC = bool('REDIS_TLS', { description: 'TLS' });
const NODE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:,[\]]+)):(\d{1,5})$/;

/** Parses `host:port,host:port` (IPv6 as `[::1]:6379`); undefined when malformed or with duplicates. */
export function parseNodeList(raw: string): RedisNode[] | undefined {
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) return undefined;
  const nodes: RedisNode[] = [];
  for (const item of items) {
    const m = NODE.exec(item);
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535) return undefined;
    nodes.push({ host: (m[1] ?? m[2])!, port });
  }
  const keys = nodes.map((n) => `${n.host}:${n.port}`);
  return new Set(keys).size === keys.length ? nodes : undefined;
}

const NODE_LIST_TEXT = 'a comma separated list of host:port (IPv6 as [addr]:port), each once';

function set(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Reads a file at start-up (exit 2 naming the variable when it cannot); its content. */
function readable(name: string, file: string, errors: ConfigError[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    errors.push(new ConfigError(name, file, `a readable file (${(err as Error).message})`));
    return undefined;
  }
}

/** The files hold what they should (a certificate, a key that matches the certificate); errors name the variables. */
function checkPem(pem: Record<string, string | undefined>, errors: ConfigError[]): void {
  const bad = (names: string[], what: string, err: unknown) => errors.push(new ConfigConflictError(names, `${what} (${(err as Error).message})`));
  for (const name of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE']) {
    const text = pem[name];
    if (text === undefined) continue;
    try {
      new X509Certificate(text);
    } catch (err) {
      bad([name], 'not a PEM certificate', err);
    }
  }
  const { REDIS_TLS_CERT_FILE: cert, REDIS_TLS_KEY_FILE: key } = pem;
  if (key !== undefined) {
    try {
      createPrivateKey(key);
    } catch (err) {
      bad(['REDIS_TLS_KEY_FILE'], 'not a PEM private key', err);
      return;
    }
  }
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      bad(['REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'], 'the key does not belong to the certificate', err);
    }
  }
}

/**
 * Parses the Redis variables of `env` into settings, checking every rule at once. Throws
 * {@link ConfigErrors} naming every bad variable and every bad combination.
 */
export function parseRedisSettings(env: Env): RedisSettings {
  const errors: ConfigError[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) errors.push(err);
      else throw err;
      return undefined;
    }
  };
  const urlRaw = set(env, 'REDIS_URL');
  const sentinelsRaw = set(env, 'REDIS_SENTINELS');
  const clusterRaw = set(env, 'REDIS_CLUSTER_NODES');
  const master = set(env, 'REDIS_SENTINEL_MASTER');
  const sentinelUser = set(env, 'REDIS_SENTINEL_USERNAME');
  const sentinelPassword = env.REDIS_SENTINEL_PASSWORD || undefined;
  const url = attempt(() => new URL(URL_SPEC.parse(urlRaw, env)));
  const sentinels = sentinelsRaw === undefined ? undefined : parseNodeList(sentinelsRaw);
  if (sentinelsRaw !== undefined && !sentinels) errors.push(new ConfigError('REDIS_SENTINELS', sentinelsRaw, NODE_LIST_TEXT));
  const nodes = clusterRaw === undefined ? undefined : parseNodeList(clusterRaw);
  if (clusterRaw !== undefined && !nodes) errors.push(new ConfigError('REDIS_CLUSTER_NODES', clusterRaw, NODE_LIST_TEXT));

  // Topology: one of the three.
  if (sentinelsRaw !== undefined && clusterRaw !== undefined) errors.push(new ConfigConflictError(['REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'], 'set one topology only'));
  if (urlRaw !== undefined && sentinelsRaw !== undefined) errors.push(new ConfigConflictError(['REDIS_URL', 'REDIS_SENTINELS'], 'set one topology only (with Sentinel, REDIS_URL stays unset; credentials go in REDIS_USERNAME / REDIS_PASSWORD, TLS in REDIS_TLS)'));
  if (urlRaw !== undefined && clusterRaw !== undefined) errors.push(new ConfigConflictError(['REDIS_URL', 'REDIS_CLUSTER_NODES'], 'set one topology only (a cluster has no database index; credentials go in REDIS_USERNAME / REDIS_PASSWORD, TLS in REDIS_TLS)'));
  if (sentinelsRaw !== undefined && master === undefined) errors.push(new ConfigConflictError(['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER'], 'REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the master name the sentinels monitor)'));
  if (master !== undefined && sentinelsRaw === undefined) errors.push(new ConfigConflictError(['REDIS_SENTINEL_MASTER', 'REDIS_SENTINELS'], 'REDIS_SENTINEL_MASTER needs REDIS_SENTINELS'));
  for (const [name, value] of [['REDIS_SENTINEL_USERNAME', sentinelUser], ['REDIS_SENTINEL_PASSWORD', sentinelPassword]] as const) {
    if (value !== undefined && sentinelsRaw === undefined) errors.push(new ConfigConflictError([name, 'REDIS_SENTINELS'], `${name} is only used with REDIS_SENTINELS`));
  }
  if (sentinelUser !== undefined && sentinelPassword === undefined) errors.push(new ConfigConflictError(['REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'], 'an ACL user needs its password'));

  // Credentials: the variables override what the URL carries.
  const username = set(env, 'REDIS_USERNAME') ?? (url?.username ? decodeURIComponent(url.username) : undefined);
  const passwordVar = env.REDIS_PASSWORD || undefined;
  const passwordFile = set(env, 'REDIS_PASSWORD_FILE');
  if (passwordVar !== undefined && passwordFile !== undefined) errors.push(new ConfigConflictError(['REDIS_PASSWORD', 'REDIS_PASSWORD_FILE'], 'set one of them'));
  if (passwordFile !== undefined) readable('REDIS_PASSWORD_FILE', passwordFile, errors);
  const password = passwordFile !== undefined ? undefined : (passwordVar ?? (url?.password ? decodeURIComponent(url.password) : undefined));

  // TLS: REDIS_TLS, else the URL's scheme; the files need TLS on, and a certificate its key.
  const tlsVar = attempt(() => (set(env, 'REDIS_TLS') === undefined ? undefined : TLS_SPEC.parse(env.REDIS_TLS, env)));
  const urlTls = urlRaw !== undefined && url?.protocol === 'rediss:';
  if (tlsVar === false && urlTls) errors.push(new ConfigConflictError(['REDIS_TLS', 'REDIS_URL'], 'REDIS_TLS=false contradicts a rediss:// REDIS_URL'));
  const tlsOn = tlsVar ?? urlTls;
  const files = { REDIS_TLS_CA_FILE: set(env, 'REDIS_TLS_CA_FILE'), REDIS_TLS_CERT_FILE: set(env, 'REDIS_TLS_CERT_FILE'), REDIS_TLS_KEY_FILE: set(env, 'REDIS_TLS_KEY_FILE') };
  const servername = set(env, 'REDIS_TLS_SERVERNAME');
  const tlsVars = [...Object.entries(files).filter(([, v]) => v !== undefined).map(([k]) => k), ...(servername !== undefined ? ['REDIS_TLS_SERVERNAME'] : [])];
  if (!tlsOn && tlsVars.length > 0) {
    const off = tlsVar === false ? 'REDIS_TLS=false' : urlRaw !== undefined ? 'REDIS_URL is redis:// (no TLS) and REDIS_TLS is unset' : 'REDIS_TLS is unset';
    errors.push(new ConfigConflictError([...tlsVars, 'REDIS_TLS'], `TLS settings without TLS (${off}): set REDIS_TLS=true${urlRaw !== undefined ? ' or use rediss://' : ''}`));
  }
  if ((files.REDIS_TLS_CERT_FILE === undefined) !== (files.REDIS_TLS_KEY_FILE === undefined)) {
    errors.push(new ConfigConflictError(['REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE'], 'a client certificate needs its key and the reverse: set both or neither'));
  }
  const pem: Record<string, string | undefined> = {};
  for (const [name, file] of Object.entries(files)) if (file !== undefined) pem[name] = readable(name, file, errors);
  if (tlsOn) checkPem(pem, errors);

  if (errors.length > 0) throw new ConfigErrors(errors);
  let topology: RedisTopology;
  if (sentinels) topology = { kind: 'sentinel', sentinels, masterName: master!, ...(sentinelUser ? { sentinelUsername: sentinelUser } : {}), ...(sentinelPassword ? { sentinelPassword } : {}) };
  else if (nodes) topology = { kind: 'cluster', nodes };
  else topology = { kind: 'single', host: url!.hostname.replace(/^\[|\]$/g, ''), port: Number(url!.port || 6379), db: Number(url!.pathname.replace(/^\//, '') || 0) };
  const tls: RedisTlsSettings | undefined = tlsOn
    ? {
        ...(files.REDIS_TLS_CA_FILE ? { caFile: files.REDIS_TLS_CA_FILE } : {}),
        ...(files.REDIS_TLS_CERT_FILE ? { certFile: files.REDIS_TLS_CERT_FILE } : {}),
        ...(files.REDIS_TLS_KEY_FILE ? { keyFile: files.REDIS_TLS_KEY_FILE } : {}),
        ...(servername ? { servername } : {}),
      }
    : undefined;
  return {
    topology,
    ...(username ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(passwordFile ? { passwordFile } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** The settings of one server at a `redis://` / `rediss://` URL (user, password, db and TLS from the URL). */
export function redisSettingsFromUrl(url: string): RedisSettings {
  return parseRedisSettings({ REDIS_URL: url });
}

/** The settings for logs: the topology and whether TLS is on, never a password. */
export function describeRedis(s: RedisSettings): string {
  const t = s.topology;
  const tls = s.tls ? ' (tls)' : '';
  if (t.kind === 'single') return `redis${s.tls ? 's' : ''}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${t.db ? `/${t.db}` : ''}`;
  const list = (nodes: RedisNode[]) => nodes.map((n) => `${n.host}:${n.port}`).join(',');
  if (t.kind === 'sentinel') return `sentinel ${t.masterName}@${list(t.sentinels)}${tls}`;
  return `cluster ${list(t.nodes)}${tls}`;
}
