import { LOG_LEVELS, int, oneOf, type ReadWithSpec, type VarSpec } from './config';
import { DEFAULT_REDIS_URL, parseRedisSettings, type RedisSettings } from './redis-settings';

/** The default stream and consumer group (`STREAM`, `GROUP` of the worker and the autoscaler; the producer's `STREAMS`). */
export const DEFAULT_STREAM = 'events';
/** The default consumer group (`GROUP`). */
export const DEFAULT_GROUP = 'workers';

/** The variables every service reads: the Redis settings (redis-settings.ts), `PORT`, `LOG_LEVEL`. */
export function commonSpecs(defaultPort: number) {
  return {
    /**
     * `REDIS_URL` and every other Redis variable below, parsed together into the connection settings
     * (one rule set for the combinations: redis-settings.ts).
     */
    redis: redisSettingsSpec(),
    /** `REDIS_SENTINELS`: Sentinel addresses; the primary is asked for at each connect. */
    redisSentinels: doc('REDIS_SENTINELS', 'Sentinel addresses `host:port,host:port` (with REDIS_SENTINEL_MASTER, instead of REDIS_URL): the primary is asked for at each connect and followed after a failover', NODE_LIST),
    /** `REDIS_SENTINEL_MASTER`: the master name the sentinels monitor. */
    redisSentinelMaster: doc('REDIS_SENTINEL_MASTER', 'The master name the sentinels monitor (with REDIS_SENTINELS)', 'a name'),
    /** `REDIS_SENTINEL_USERNAME`: ACL user of the sentinels. */
    redisSentinelUsername: doc('REDIS_SENTINEL_USERNAME', "ACL user of the sentinels (their own, not the data nodes'; needs REDIS_SENTINEL_PASSWORD)", 'a name'),
    /** `REDIS_SENTINEL_PASSWORD`: password of the sentinels. */
    redisSentinelPassword: doc('REDIS_SENTINEL_PASSWORD', 'Password of the sentinels (with REDIS_SENTINELS)', 'a string'),
    /** `REDIS_CLUSTER_NODES`: seed nodes of a Redis Cluster. */
    redisClusterNodes: doc('REDIS_CLUSTER_NODES', 'Seed nodes of a Redis Cluster `host:port,…` (instead of REDIS_URL; the other nodes are discovered)', NODE_LIST),
    /** `REDIS_USERNAME`: Redis ACL user (overrides a user in REDIS_URL). */
    redisUsername: doc('REDIS_USERNAME', 'Redis ACL user of the data nodes (overrides a user in REDIS_URL)', 'a name'),
    /** `REDIS_PASSWORD`: password of the Redis user (overrides a password in REDIS_URL). */
    redisPassword: doc('REDIS_PASSWORD', 'Password of the Redis user (overrides a password in REDIS_URL; not with REDIS_PASSWORD_FILE)', 'a string'),
    /** `REDIS_PASSWORD_FILE`: file holding the password, read again at each (re)connect. */
    redisPasswordFile: doc('REDIS_PASSWORD_FILE', 'File holding the Redis password (a mounted Secret; one trailing newline dropped), read again at every (re)connect: a rotated password needs no restart; not with REDIS_PASSWORD', 'a readable file'),
    /** `REDIS_TLS`: TLS to Redis (and the sentinels). */
    redisTls: doc('REDIS_TLS', 'TLS to Redis and the sentinels; unset: as REDIS_URL says (`rediss://`), else off', 'true or false', '(from REDIS_URL)'),
    /** `REDIS_TLS_CA_FILE`: PEM CA bundle the server certificate is checked against. */
    redisTlsCaFile: doc('REDIS_TLS_CA_FILE', 'PEM file of the CA(s) that signed the server certificates (a private CA); unset: the system CAs. Needs TLS on', 'a readable PEM file'),
    /** `REDIS_TLS_CERT_FILE`: client certificate. */
    redisTlsCertFile: doc('REDIS_TLS_CERT_FILE', 'PEM client certificate, for servers that require one (`tls-auth-clients yes`); with REDIS_TLS_KEY_FILE', 'a readable PEM file'),
    /** `REDIS_TLS_KEY_FILE`: the client certificate's key. */
    redisTlsKeyFile: doc('REDIS_TLS_KEY_FILE', "PEM private key of the client certificate; with REDIS_TLS_CERT_FILE", 'a readable PEM file'),
    /** `REDIS_TLS_SERVERNAME`: the name the server certificates must carry. */
    redisTlsServername: doc('REDIS_TLS_SERVERNAME', 'Name the server certificates must carry (SNI and the check); unset: the host connected to', 'a host name'),
    /** `PORT`: Port of the HTTP server (API or ops endpoints). */
    port: int('PORT', { description: 'Port of the HTTP server (API or ops endpoints)', default: defaultPort, min: 0, max: 65535 }),
    /** `LOG_LEVEL`: pino log level. */
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { description: 'pino log level', default: 'info' }),
  };
}

const NODE_LIST = 'a comma separated list of host:port';

/** A variable documented in the README and parsed by {@link redisSettingsSpec} with the others. */
function doc(name: string, description: string, allowed: string, defaultText?: string): ReadWithSpec {
  return { name, description, defaultText, allowed, readWith: 'REDIS_URL', parse: () => undefined };
}

/** `REDIS_URL`'s row in the README; its parse reads every Redis variable (throws ConfigErrors naming all). */
function redisSettingsSpec(): VarSpec<RedisSettings> {
  return {
    name: 'REDIS_URL',
    description: 'One Redis server: `redis://[user:password@]host[:port][/db]`, `rediss://` for TLS; not with REDIS_SENTINELS or REDIS_CLUSTER_NODES (docs/redis.md)',
    defaultText: DEFAULT_REDIS_URL,
    allowed: 'a URL redis://[user:password@]host[:port][/db] or rediss://… for TLS',
    parse: (_raw, env) => parseRedisSettings(env),
  };
}
