import type { Registry } from 'prom-client';
import {
  DEFAULT_REDIS_URL,
  checkOption,
  checkRedisSettings,
  createLogger,
  createRegistry,
  deadLetterKey,
  keyModeOf,
  kindOf,
  redisSettingsFromUrl,
  redisUrl,
  type CheckedVarSpec,
  type Logger,
  type RedisSettings,
} from '@stream-workers/core';
import { libraryOnlySpecs, workerConfig } from './config';
import type { WorkerOptions } from './worker';

/** The options checked by one variable's rule (the connection, `redis` or `redisUrl`, is checked apart). */
export type SpecOptions = Required<Omit<WorkerOptions, 'logger' | 'registry' | 'contracts' | 'redis'>>;

/** The options with every default applied; `redis` holds the connection settings (from `redis` or `redisUrl`). */
export type ResolvedWorkerOptions = Omit<SpecOptions, 'redisUrl'> & {
  /** Where and how the worker's connections reach Redis. */
  redis: RedisSettings;
};

const env = workerConfig.specs;

/**
 * The rule of each option: its environment variable's spec (config.ts), or for `commandTimeoutMs`,
 * which has no variable, the spec beside them. The single definition of every range and pattern.
 */
export const OPTION_SPECS: { readonly [K in keyof SpecOptions]: CheckedVarSpec<SpecOptions[K]> } = {
  // One server by URL (`REDIS_URL`'s rule); `redis` (any topology) is checked by core's checkRedisSettings.
  redisUrl: redisUrl('REDIS_URL', { description: 'One Redis server', default: DEFAULT_REDIS_URL }),
  stream: env.stream,
  group: env.group,
  consumer: env.consumer,
  groupStartId: env.groupStartId,
  batchSize: env.batchSize,
  concurrency: env.concurrency,
  blockMs: env.blockMs,
  maxDeliveries: env.maxDeliveries,
  claimIdleMs: env.claimIdleMs,
  retryDelayMs: env.retryDelayMs,
  deadLetterStream: env.deadLetterStream,
  shutdownGraceMs: env.shutdownGraceMs,
  envelope: env.envelope,
  envelopeField: env.envelopeField,
  commandTimeoutMs: libraryOnlySpecs.commandTimeoutMs,
};

/** Options without a default (the variables derive theirs from the environment; a library caller names them). */
export const REQUIRED_OPTIONS: ReadonlySet<keyof SpecOptions> = new Set(['redisUrl', 'stream', 'group', 'consumer'] as const);

const WHERE = 'createWorker';

function hasMethods(value: unknown, ...names: string[]): boolean {
  return typeof value === 'object' && value !== null && names.every((n) => typeof (value as Record<string, unknown>)[n] === 'function');
}

/**
 * Checks the options and the handler, and applies the defaults. Runs before the worker makes any
 * connection. Throws a `TypeError` (wrong type, a required option missing) or a `RangeError` (a value
 * its rule does not allow) naming the option, the value and what is allowed.
 */
export function resolveWorkerOptions(options: unknown, handler: unknown): ResolvedWorkerOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${WHERE}: options must be an object, got ${kindOf(options)}`);
  }
  if (typeof handler !== 'function') throw new TypeError(`${WHERE}: handler must be a function (event, ctx) => …, got ${kindOf(handler)}`);
  const o = options as Record<string, unknown>;
  const get = <K extends keyof SpecOptions>(k: K): SpecOptions[K] | undefined =>
    checkOption(WHERE, k, OPTION_SPECS[k], o[k], REQUIRED_OPTIONS.has(k) && !(k === 'redisUrl' && o.redis !== undefined));
  // The variable's default (parse of an unset variable); none of these derives it from other variables.
  const orDefault = <K extends keyof SpecOptions>(k: K): SpecOptions[K] => get(k) ?? OPTION_SPECS[k].parse(undefined, {});
  if (o.redis !== undefined && o.redisUrl !== undefined) throw new TypeError(`${WHERE}: options redis and redisUrl are both set: pass one (redisUrl for one server, redis for any topology)`);
  const url = get('redisUrl');
  const resolved: ResolvedWorkerOptions = {
    redis: url !== undefined ? redisSettingsFromUrl(url) : checkRedisSettings(WHERE, 'redis', o.redis),
    stream: get('stream')!,
    group: get('group')!,
    consumer: get('consumer')!,
    groupStartId: orDefault('groupStartId'),
    batchSize: orDefault('batchSize'),
    concurrency: orDefault('concurrency'),
    blockMs: orDefault('blockMs'),
    maxDeliveries: orDefault('maxDeliveries'),
    claimIdleMs: orDefault('claimIdleMs'),
    retryDelayMs: orDefault('retryDelayMs'),
    deadLetterStream: '',
    shutdownGraceMs: orDefault('shutdownGraceMs'),
    envelope: orDefault('envelope'),
    envelopeField: orDefault('envelopeField'),
    commandTimeoutMs: orDefault('commandTimeoutMs'),
  };
  // As DEAD_LETTER_STREAM derives from STREAM, in the stream's slot on a cluster (core keys.ts).
  resolved.deadLetterStream = get('deadLetterStream') ?? deadLetterKey(resolved.stream, keyModeOf(resolved.redis));
  if (o.logger !== undefined && !hasMethods(o.logger, 'child', 'info', 'warn', 'error')) throw new TypeError(`${WHERE}: option logger must be a pino Logger, got ${kindOf(o.logger)}`);
  if (o.registry !== undefined && !hasMethods(o.registry, 'registerMetric', 'metrics')) throw new TypeError(`${WHERE}: option registry must be a prom-client Registry, got ${kindOf(o.registry)}`);
  return resolved;
}

/**
 * The worker's logger and metrics registry: the caller's, or by default a pino JSON logger on stdout
 * (`service: stream-workers-worker`, level `info`) and a fresh registry of its own (no process metrics).
 * Call after {@link resolveWorkerOptions} (which checks them).
 */
export function resolveSinks(options: Pick<WorkerOptions, 'logger' | 'registry'>): { logger: Logger; registry: Registry } {
  return {
    logger: options.logger ?? createLogger({ service: 'stream-workers-worker' }),
    registry: options.registry ?? createRegistry({ processMetrics: false }),
  };
}

/** The options as a Markdown table, from {@link OPTION_SPECS} (docs/worker.md; checked by a test). */
export function optionsTable(): string {
  const rows = (Object.keys(OPTION_SPECS) as (keyof SpecOptions)[]).map((k) => {
    const s = OPTION_SPECS[k];
    const variable = s.name === k ? '(library only)' : `\`${s.name}\``;
    const dflt = k === 'redisUrl' ? 'required (or `redis`)' : REQUIRED_OPTIONS.has(k) ? 'required' : k === 'deadLetterStream' ? '`<stream>:dlq`' : '`' + String(s.defaultText) + '`';
    return `| \`${k}\` | ${variable} | ${dflt} | ${s.allowed} |`;
  });
  const redis = "| `redis` | `REDIS_SENTINELS`, `REDIS_CLUSTER_NODES`, … (docs/redis.md) | required (or `redisUrl`) | Redis settings `{ topology: { kind: 'single' \\| 'sentinel' \\| 'cluster', … }, username?, password?, passwordFile?, tls? }` (core `RedisSettings`; `parseRedisSettings(process.env)` makes them) |";
  return ['| option | variable | default | allowed |', '| --- | --- | --- | --- |', rows[0]!, redis, ...rows.slice(1)].join('\n');
}
