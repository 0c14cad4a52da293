import { hostname } from 'node:os';
import {
  ConfigError, DEFAULT_ENVELOPE_FIELD, DEFAULT_GROUP, DEFAULT_STREAM, ENVELOPES, commonSpecs, deadLetterKey, defineConfig, int, keyModeOf, keySlot, num, oneOf, optionalStr, str,
  streamShardsSpec, type CheckedVarSpec, type ConfigOf,
} from '@stream-workers/core';

const KEY = /^[^\s]{1,512}$/;

/**
 * DEAD_LETTER_STREAM's rules beyond its pattern: unset with STREAM_SHARDS > 1 (each shard derives its
 * own), and in Redis Cluster in the slot of STREAM (the dead-letter MULTI touches both keys).
 */
function deadLetterRules(spec: CheckedVarSpec<string>): CheckedVarSpec<string> {
  return {
    ...spec,
    parse(raw, env) {
      const shards = Number(env.STREAM_SHARDS?.trim() || '1');
      const set = raw !== undefined && raw.trim() !== '';
      if (set && shards > 1) {
        throw new ConfigError(spec.name, raw, `unset with STREAM_SHARDS=${env.STREAM_SHARDS!.trim()} (each shard has its own dead-letter stream, <STREAM>{i}:dlq)`);
      }
      const value = spec.parse(raw, env);
      const stream = env.STREAM?.trim() || DEFAULT_STREAM;
      if (set && keyModeOf(env).cluster && keySlot(value) !== keySlot(stream)) {
        throw new ConfigError(spec.name, raw, `a key in the slot of STREAM with REDIS_CLUSTER_NODES set (e.g. ${deadLetterKey(stream, { cluster: true })}, or leave it unset)`);
      }
      return value;
    },
  };
}

/** The worker's environment (docs/design.md, "Runtime contract"). Parsed in main.ts only. */
export const workerConfig = defineConfig('worker', {
  ...commonSpecs(8081),
  /** `STREAM`: Stream to consume. */
  stream: str('STREAM', { description: 'Stream to consume', default: DEFAULT_STREAM, pattern: KEY, patternText: 'a stream key without spaces' }),
  /** `GROUP`: Consumer group. */
  group: str('GROUP', { description: 'Consumer group', default: DEFAULT_GROUP, pattern: KEY, patternText: 'a group name without spaces' }),
  /** `CONSUMER`: Consumer name of this worker (the chart passes the pod name). */
  consumer: str('CONSUMER', {
    description: 'Consumer name of this worker (the chart passes the pod name)',
    derive: (env) => env.POD_NAME?.trim() || hostname(),
    defaultText: '$POD_NAME, else the hostname',
    pattern: KEY,
    patternText: 'a consumer name without spaces',
  }),
  /** `GROUP_START_ID`: Where a group created by a worker starts: `0` = the beginning of the stream, `$` = only new entries. */
  groupStartId: str('GROUP_START_ID', {
    description: 'Where a group created by a worker starts: `0` = the beginning of the stream, `$` = only new entries',
    default: '0',
    pattern: /^(\$|0|\d+(-\d+)?)$/,
    patternText: '0, $ or a stream id',
  }),
  /** `BATCH_SIZE`: Entries per XREADGROUP. */
  batchSize: int('BATCH_SIZE', { description: 'Entries per XREADGROUP', default: 100, min: 1, max: 10_000 }),
  /** `CONCURRENCY`: Handlers running at once. */
  concurrency: int('CONCURRENCY', { description: 'Handlers running at once', default: 50, min: 1, max: 10_000 }),
  /** `BLOCK_MS`: How long one XREADGROUP blocks waiting for entries. */
  blockMs: int('BLOCK_MS', { description: 'How long one XREADGROUP blocks waiting for entries', default: 2000, min: 10, max: 60_000, unit: 'ms' }),
  /** `MAX_DELIVERIES`: Deliveries before an entry goes to the dead-letter stream. */
  maxDeliveries: int('MAX_DELIVERIES', { description: 'Deliveries before an entry goes to the dead-letter stream', default: 5, min: 1, max: 1000 }),
  /** `CLAIM_IDLE_MS`: Idle time after which another consumer's pending entry is reclaimed (XAUTOCLAIM). */
  claimIdleMs: int('CLAIM_IDLE_MS', { description: "Idle time after which another consumer's pending entry is reclaimed (XAUTOCLAIM)", default: 60_000, min: 100, unit: 'ms' }),
  /** `RETRY_DELAY_MS`: Delay before this worker retries a failed entry itself (doubles per delivery, capped at CLAIM_IDLE_MS/2). */
  retryDelayMs: int('RETRY_DELAY_MS', {
    description: 'Delay before this worker retries a failed entry itself (doubles per delivery, capped at CLAIM_IDLE_MS/2)',
    default: 1000,
    min: 0,
    unit: 'ms',
  }),
  /** `STREAM_SHARDS`: Shards of the stream (the worker reads every one). */
  streamShards: streamShardsSpec(),
  /** `DEAD_LETTER_STREAM`: Dead-letter stream. */
  deadLetterStream: deadLetterRules(str('DEAD_LETTER_STREAM', {
    description: 'Dead-letter stream (`{<STREAM>}:dlq` in Redis Cluster for a stream without a hash tag; with STREAM_SHARDS > 1 each shard has its own, `<STREAM>{i}:dlq`, and this variable must stay unset)',
    derive: (env) => {
      const stream = env.STREAM?.trim() || DEFAULT_STREAM;
      try {
        return deadLetterKey(stream, keyModeOf(env));
      } catch (err) {
        throw new ConfigError('STREAM', stream, (err as Error).message);
      }
    },
    defaultText: '<STREAM>:dlq',
    pattern: KEY,
    patternText: 'a stream key without spaces',
  })),
  /** `SHUTDOWN_GRACE_MS`: On SIGTERM: time for in-flight handlers to finish. */
  shutdownGraceMs: int('SHUTDOWN_GRACE_MS', { description: 'On SIGTERM: time for in-flight handlers to finish', default: 25_000, min: 0, unit: 'ms' }),
  /** `ENVELOPE`: How entries are read: `cloudevents` (flat CloudEvents fields), `json-field` (one field holding a JSON document), `fields` (the fields as one flat object); see docs/worker.md. */
  envelope: oneOf('ENVELOPE', ENVELOPES, {
    description: 'How entries are read: `cloudevents` (flat CloudEvents fields), `json-field` (one field holding a JSON document), `fields` (the fields as one flat object); see docs/worker.md',
    default: 'cloudevents',
  }),
  /** `ENVELOPE_FIELD`: The field `ENVELOPE=json-field` reads. */
  envelopeField: str('ENVELOPE_FIELD', { description: 'The field `ENVELOPE=json-field` reads', default: DEFAULT_ENVELOPE_FIELD, pattern: KEY, patternText: 'a field name without spaces' }),
  /** `HANDLER`: Path of a module exporting `handle(event, ctx)`; unset = the built-in simulated handler. */
  handler: optionalStr('HANDLER', { description: 'Path of a module exporting `handle(event, ctx)`; unset = the built-in simulated handler', defaultText: '(built-in simulated handler)' }),
  /** `SIM_WORK_MS`: Simulated handler: time per event. */
  simWorkMs: num('SIM_WORK_MS', { description: 'Simulated handler: time per event', default: 5, min: 0 }),
  /** `SIM_FAIL_RATE`: Simulated handler: share of deliveries that fail. */
  simFailRate: num('SIM_FAIL_RATE', { description: 'Simulated handler: share of deliveries that fail', default: 0, min: 0, max: 1 }),
  /** `SIM_POISON_TYPE`: Simulated handler: events of this type always fail (they end in the dead-letter stream). */
  simPoisonType: optionalStr('SIM_POISON_TYPE', { description: 'Simulated handler: events of this type always fail (they end in the dead-letter stream)', defaultText: '(none)' }),
});

/** The worker's configuration, as {@link workerConfig} parses it. */
export type WorkerConfig = ConfigOf<typeof workerConfig.specs>;

/**
 * Rules of the options only the library takes (`createWorker`, `new Worker`): they have no
 * environment variable (the `name` is the option's, for messages), so they are not in
 * {@link workerConfig} or the README's table, but they live here beside the variables' rules.
 */
export const libraryOnlySpecs = {
  commandTimeoutMs: int('commandTimeoutMs', {
    description: 'A command (XACK, XCLAIM, …) without reply for this long resets the command connection',
    default: 10_000,
    min: 100,
    max: 2_147_483_647, // Node's timer limit
    unit: 'ms',
  }),
};
