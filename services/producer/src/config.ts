import { ConfigConflictError, commonSpecs, defineConfig, int, list, oneOf, optionalStr, str, streamShardsSpec, type ConfigOf } from '@stream-workers/core';

/** Stream names a client may name in a URL: printable, no spaces, no glob characters. */
const STREAM_NAME = /^[A-Za-z0-9_.:{}-]{1,200}$/;

/**
 * The producer's environment (docs/design.md, "Runtime contract"). `main.ts` parses it; everything else
 * takes the typed result.
 */
export const producerConfig = defineConfig('producer', {
  ...commonSpecs(8080),
  /** `STREAMS`: Streams clients may append to (`POST /v1/streams/<name>/events`); any other name answers 404. */
  streams: list('STREAMS', {
    description: 'Streams clients may append to (`POST /v1/streams/<name>/events`); any other name answers 404',
    default: ['events'],
    item: STREAM_NAME,
    itemText: 'stream names (letters, digits, `_ . : - { }`, at most 200 characters)',
  }),
  /** `MAX_EVENT_BYTES`: Largest request body of one event, and largest encoded event inside a batch; above it the request answers 413. */
  maxEventBytes: int('MAX_EVENT_BYTES', {
    description: 'Largest request body of one event, and largest encoded event inside a batch; above it the request answers 413',
    default: 262_144,
    min: 256,
    max: 64 * 1024 * 1024,
    unit: 'bytes',
  }),
  /** `MAX_BATCH_BYTES`: Largest request body of a batch (`application/cloudevents-batch+json`); above it the request answers 413. */
  maxBatchBytes: int('MAX_BATCH_BYTES', {
    description: 'Largest request body of a batch (`application/cloudevents-batch+json`); above it the request answers 413',
    default: 4 * 1024 * 1024,
    min: 256,
    max: 256 * 1024 * 1024,
    unit: 'bytes',
  }),
  /** `STREAM_SHARDS`: Shards of every stream in STREAMS (events go to a shard by partition key). */
  streamShards: streamShardsSpec(),
  /** `MAXLEN`: Approximate trim of each stream on append (`XADD … MAXLEN ~ n`); 0 = never trim. */
  maxLen: int('MAXLEN', {
    description: 'Approximate trim of each stream on append (`XADD … MAXLEN ~ n`); 0 = never trim',
    default: 1_000_000,
    min: 0,
  }),
  /** `IDEMPOTENCY_TTL_S`: How long an event `source`+`id` sent by the client is remembered: a resend within it returns the first entry id and appends nothing. */
  idempotencyTtlS: int('IDEMPOTENCY_TTL_S', {
    description: 'How long an event `source`+`id` sent by the client is remembered: a resend within it returns the first entry id and appends nothing',
    default: 86_400,
    min: 1,
    unit: 's',
  }),
  /** `BATCH_MAX`: Most events in one batch request; above it the request answers 413. */
  batchMax: int('BATCH_MAX', {
    description: 'Most events in one batch request; above it the request answers 413',
    default: 1000,
    min: 1,
    max: 100_000,
  }),
  /** `PUBLISH_TIMEOUT_MS`: Deadline for Redis to confirm an append; past it the request answers 503 with Retry-After (the append may still land: resend with the same ids). */
  publishTimeoutMs: int('PUBLISH_TIMEOUT_MS', {
    description: 'Deadline for Redis to confirm an append; past it the request answers 503 with Retry-After (the append may still land: resend with the same ids)',
    default: 2000,
    min: 10,
    max: 120_000,
    unit: 'ms',
  }),
  /** `AUTH_MODE`: Who may publish: `none` (anyone; logged as a warning), `token` (bearer tokens of API_TOKENS_FILE), `jwt` (bearer JWTs checked against a JWKS). */
  authMode: oneOf('AUTH_MODE', ['none', 'token', 'jwt'] as const, {
    description: 'Who may publish: `none` (anyone; logged as a warning), `token` (bearer tokens of API_TOKENS_FILE), `jwt` (bearer JWTs checked against a JWKS)',
    default: 'none',
  }),
  /** `API_TOKENS_FILE`: AUTH_MODE=token: one client per line, `<name> <sha256 hex of its token> <stream,glob,…>`, `#` comments; read again when it changes. */
  apiTokensFile: optionalStr('API_TOKENS_FILE', {
    description: 'AUTH_MODE=token: one client per line, `<name> <sha256 hex of its token> <stream,glob,…>`, `#` comments; read again when it changes',
  }),
  /** `JWT_JWKS_FILE`: AUTH_MODE=jwt: a JWKS document on disk (read again when it changes). */
  jwtJwksFile: optionalStr('JWT_JWKS_FILE', { description: 'AUTH_MODE=jwt: a JWKS document on disk (read again when it changes)' }),
  /** `JWT_JWKS_URL`: AUTH_MODE=jwt: a JWKS URL (cached, refetched for an unknown key id); used when JWT_JWKS_FILE is unset. */
  jwtJwksUrl: optionalStr('JWT_JWKS_URL', { description: 'AUTH_MODE=jwt: a JWKS URL (cached, refetched for an unknown key id); used when JWT_JWKS_FILE is unset' }),
  /** `JWT_ISSUER`: AUTH_MODE=jwt: the required `iss` claim. */
  jwtIssuer: optionalStr('JWT_ISSUER', { description: 'AUTH_MODE=jwt: the required `iss` (for service-account tokens, the cluster\'s issuer)' }),
  /** `JWT_AUDIENCE`: AUTH_MODE=jwt: the required `aud` (`stream-workers` for projected service-account tokens). */
  jwtAudience: optionalStr('JWT_AUDIENCE', { description: 'AUTH_MODE=jwt: the required `aud` (`stream-workers` for projected service-account tokens)' }),
  /** `JWT_STREAMS_CLAIM`: AUTH_MODE=jwt: the claim listing the streams a token may write (names or globs; array or comma-separated). */
  jwtStreamsClaim: str('JWT_STREAMS_CLAIM', {
    description: 'AUTH_MODE=jwt: the claim listing the streams a token may write (names or globs; array or comma-separated)',
    default: 'streams',
    pattern: /^[A-Za-z0-9_.:/-]{1,128}$/,
    patternText: 'a claim name',
  }),
  /** `JWT_DEFAULT_STREAMS`: AUTH_MODE=jwt: streams (names or globs) a valid token without the streams claim may write, e.g. a service-account token; empty = none. */
  jwtDefaultStreams: list('JWT_DEFAULT_STREAMS', {
    description: 'AUTH_MODE=jwt: streams (names or globs) a valid token without the streams claim may write, e.g. a service-account token; empty = none',
    default: [],
    item: /^[A-Za-z0-9_.:{}*?-]{1,200}$/,
    itemText: 'stream names or globs',
  }),
  /** `RATE_LIMIT_PER_S`: Requests per second each client may send (token bucket per client name, burst of one second); past it 429 with Retry-After; 0 = no limit. */
  rateLimitPerS: int('RATE_LIMIT_PER_S', {
    description: 'Requests per second each client may send (token bucket per client name, burst of one second); past it 429 with Retry-After; 0 = no limit',
    default: 0,
    min: 0,
    max: 1_000_000,
  }),
  /** `PRODUCER_MIN_REPLICAS_ACK`: replicas that must confirm an append (WAIT) before 2xx. */
  minReplicasAck: int('PRODUCER_MIN_REPLICAS_ACK', {
    description:
      'Replicas that must confirm an append (`WAIT`, on the connection that wrote, within PUBLISH_TIMEOUT_MS) before the producer answers 2xx; else 503 (`publish_rejected_total{reason="not_replicated"}`). 0 = asynchronous replication: a failover can lose acknowledged appends (docs/redis.md). Not with REDIS_CLUSTER_NODES',
    default: 0,
    min: 0,
    max: 100,
  }),
}, (c) => (c.minReplicasAck > 0 && c.redis.topology.kind === 'cluster'
  ? [new ConfigConflictError(['PRODUCER_MIN_REPLICAS_ACK', 'REDIS_CLUSTER_NODES'], 'WAIT is not supported with a Redis Cluster (set PRODUCER_MIN_REPLICAS_ACK=0; docs/redis.md)')]
  : []));

/** The producer's configuration, as {@link producerConfig} parses it. */
export type ProducerConfig = ConfigOf<typeof producerConfig.specs>;
