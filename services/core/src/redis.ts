import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Readiness } from './ops-server';
import type { Logger } from 'pino';
import { errorFields } from './logger';
import { redisErrorCode } from './redis-errors';
import { RedisCredentials } from './redis-credentials';
import { describeRedis, redisSettingsFromUrl, type RedisSettings } from './redis-settings';

/**
 * A command connection: one server or a Sentinel-managed primary (`Redis`), or a Redis Cluster
 * (`Cluster`, which routes each command to the node owning its key and follows MOVED / ASK). Both
 * offer the same commands; code that needs one node (CLIENT UNBLOCK, a pipeline) goes to the key's node.
 */
export type RedisConnection = Redis | Cluster;

/**
 * What a connection is for. `command`: request/response work (XADD, XACK, XINFO). A command issued
 * while Redis is down is retried over at most one reconnection and then fails, so callers (an HTTP
 * request with a deadline, the exporter's scrape) can answer 503 / `exporter_up 0` instead of hanging.
 * Blocking reads (`XREADGROUP … BLOCK`) never use these connections: the worker reads on a connection
 * of its own (`StreamConsumer` in streams/consumer.ts), which never re-sends a read.
 */
export type RedisRole = 'command';

/** Options for {@link createRedis}: `settings` (any topology) or `url` (one server). */
export interface CreateRedisOptions {
  /** Where and how to connect (core `parseRedisSettings`, from the service's environment). */
  settings?: RedisSettings;
  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS: one server (when `settings` is not given). */
  url?: string;
  /** What the connection is for: sets its timeouts and retry behaviour. */
  role: RedisRole;
  /** CLIENT SETNAME, visible in `CLIENT LIST` (e.g. `worker:<consumer>`). */
  name?: string;
  /** Connection errors and reconnects are logged here. */
  logger?: Logger;
  /** Cap of the reconnect backoff in ms; default 2000. Backoff is 50 ms × attempt, capped. */
  maxBackoffMs?: number;
  /** Timeout of a TCP connect attempt in ms; default 5000. */
  connectTimeoutMs?: number;
  /** Extra ioredis options (tests; for a cluster they apply to each node's connection). */
  overrides?: RedisOptions;
}

/** Reconnect delay for attempt `n` (1-based): 50 ms × n with ±20 % jitter, capped at `max`. */
export function reconnectDelay(attempt: number, max = 2000): number {
  const base = Math.min(max, 50 * attempt);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** Redacts the password of a Redis URL for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * Error replies after which a connection reconnects (the command fails; the caller retries or answers
 * 503): `READONLY` (a replica: after a failover, reconnecting finds the new primary), `LOADING` (the
 * server is loading its data set; the ready check waits it out), `MASTERDOWN` (a replica lost its
 * primary). A cluster follows `MOVED`/`ASK` and retries `TRYAGAIN`/`CLUSTERDOWN` itself.
 */
export const RECONNECT_REPLIES: ReadonlySet<string> = new Set(['READONLY', 'LOADING', 'MASTERDOWN']);

const settingsOfClient = new WeakMap<RedisConnection, RedisSettings>();

/** The settings a connection made by {@link createRedis} was made from (for a second connection of another kind). */
export function settingsOf(client: RedisConnection): RedisSettings | undefined {
  return settingsOfClient.get(client);
}

/**
 * Makes `target.password` and `target.tls` read the credentials at each use: ioredis reads
 * `options.password` and `options.tls` at each connect (Redis#connect, StandaloneConnector,
 * SentinelConnector), and a Cluster copies its `redisOptions` into each node connection it creates.
 */
function liveCredentials(target: object, creds: RedisCredentials, sentinelTls: boolean): void {
  Object.defineProperty(target, 'password', { get: () => creds.password(), set: () => undefined, enumerable: true, configurable: true });
  if (creds.settings.tls) {
    Object.defineProperty(target, 'tls', { get: () => creds.tls(), set: () => undefined, enumerable: true, configurable: true });
    if (sentinelTls) Object.defineProperty(target, 'sentinelTLS', { get: () => creds.tls(), set: () => undefined, enumerable: true, configurable: true });
  }
}

/**
 * A command connection from the settings, any topology: one server, a Sentinel-managed primary
 * (ioredis asks the sentinels for the primary at each connect, checks its ROLE, and drops the
 * connection on a `+switch-master`), or a Cluster. Reconnects forever with capped backoff; the password
 * (file) and TLS files are read again at each connect; one log line per state change, not per attempt.
 */
export function createRedis(opts: CreateRedisOptions & { url: string; settings?: undefined }): Redis;
export function createRedis(opts: CreateRedisOptions): RedisConnection;
export function createRedis(opts: CreateRedisOptions): RedisConnection {
  const settings = opts.settings ?? redisSettingsFromUrl(opts.url ?? 'redis://127.0.0.1:6379');
  const maxBackoff = opts.maxBackoffMs ?? 2000;
  const log = opts.logger;
  const where = describeRedis(settings);
  const creds = new RedisCredentials(settings, (file, err) => log?.warn({ redis: where, file, ...errorFields(err) }, 'cannot read a Redis credential file; keeping the last one read'));
  const retry = (attempt: number): number => reconnectDelay(attempt, maxBackoff);
  const common: RedisOptions = {
    connectionName: opts.name,
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    keepAlive: 10_000,
    enableAutoPipelining: false,
    maxRetriesPerRequest: 1,
    reconnectOnError: (err) => RECONNECT_REPLIES.has(redisErrorCode(err) ?? ''),
    ...(settings.username ? { username: settings.username } : {}),
  };
  const t = settings.topology;
  let client: RedisConnection;
  if (t.kind === 'cluster') {
    const redisOptions = { ...common, ...opts.overrides } as NonNullable<ClusterOptions['redisOptions']>;
    liveCredentials(redisOptions, creds, false);
    client = new Cluster(t.nodes, {
      redisOptions,
      clusterRetryStrategy: retry,
      enableOfflineQueue: true,
      enableReadyCheck: true,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      retryDelayOnTryAgain: 100,
      slotsRefreshTimeout: 2000,
      // With TLS, keep the announced host names (the certificate's names), as AWS/GCP advise.
      ...(settings.tls ? { dnsLookup: (address: string, cb: (err: null, address: string) => void) => cb(null, address) } : {}),
    });
  } else {
    const endpoint: RedisOptions =
      t.kind === 'single'
        ? { host: t.host, port: t.port, db: t.db }
        : {
            sentinels: t.sentinels,
            name: t.masterName,
            role: 'master',
            ...(t.sentinelUsername ? { sentinelUsername: t.sentinelUsername } : {}),
            ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
            enableTLSForSentinelMode: settings.tls !== undefined,
            // Drop the connection on +switch-master, also when the old primary comes back as a replica.
            failoverDetector: true,
            sentinelRetryStrategy: retry,
            sentinelReconnectStrategy: retry,
          };
    const tls = creds.tls();
    client = new Redis({ ...endpoint, ...common, password: creds.password(), ...(tls ? { tls, ...(t.kind === 'sentinel' ? { sentinelTLS: tls } : {}) } : {}), enableOfflineQueue: true, retryStrategy: retry, ...opts.overrides });
    // After the first connect began (it read them already): every later connect reads them anew.
    liveCredentials(client.options, creds, t.kind === 'sentinel');
  }
  settingsOfClient.set(client, settings);
  watchState(client, where, opts.role, log);
  return client;
}

/** One log line when the connection is lost and one when it is back; without a logger, errors are swallowed. */
function watchState(client: RedisConnection, where: string, role: RedisRole, log: Logger | undefined): void {
  if (!log) {
    // Without a listener ioredis prints every connection error to stderr.
    client.on('error', () => undefined);
    return;
  }
  let down = false;
  client.on('ready', () => {
    if (down) log.info({ redis: where, role }, 'redis connection restored');
    down = false;
  });
  client.on('error', (err: Error) => {
    if (!down) log.warn({ redis: where, role, ...errorFields(err) }, 'redis connection lost; reconnecting');
    down = true;
  });
}

/** True when the connection is usable right now. */
export function isRedisReady(client: RedisConnection): boolean {
  return client.status === 'ready';
}

/**
 * The `/readyz` check of a service that serves from one command connection (the producer, the lag
 * exporter): not ready while it shuts down, nor while that connection is down (no primary answers).
 */
export function redisReadiness(client: RedisConnection, draining: () => boolean): () => Readiness {
  return () => {
    if (draining()) return { ready: false, reason: 'shutting down' };
    if (!isRedisReady(client)) return { ready: false, reason: 'redis unreachable' };
    return { ready: true };
  };
}

/**
 * Waits until the connection is ready, at most `timeoutMs`; resolves false on timeout (never throws).
 * Services call it before they listen, so a request that arrives right after start-up does not see a
 * connection still being set up as an outage; Redis being down at start still lets them start.
 */
export function waitForReady(client: RedisConnection, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}

/** Closes a connection: QUIT when connected (flushes replies), else disconnect. Never throws. */
export async function closeRedis(client: RedisConnection): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    /* already closing */
  }
  client.disconnect(false);
}
