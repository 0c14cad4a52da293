import { hostname } from 'node:os';
import { DEFAULT_ENVELOPE_FIELD, DEFAULT_GROUP, DEFAULT_STREAM, ENVELOPES, commonSpecs, defineConfig, int, num, oneOf, optionalStr, str, type ConfigOf } from '@stream-workers/core';

const KEY = /^[^\s]{1,512}$/;

/** The worker's environment (docs/design.md, "Runtime contract"). Parsed in main.ts only. */
export const workerConfig = defineConfig('worker', {
  ...commonSpecs(8081),
  stream: str('STREAM', { description: 'Stream to consume', default: DEFAULT_STREAM, pattern: KEY, patternText: 'a stream key without spaces' }),
  group: str('GROUP', { description: 'Consumer group', default: DEFAULT_GROUP, pattern: KEY, patternText: 'a group name without spaces' }),
  consumer: str('CONSUMER', {
    description: 'Consumer name of this worker (the chart passes the pod name)',
    derive: (env) => env.POD_NAME?.trim() || hostname(),
    defaultText: '$POD_NAME, else the hostname',
    pattern: KEY,
    patternText: 'a consumer name without spaces',
  }),
  groupStartId: str('GROUP_START_ID', {
    description: 'Where a group created by a worker starts: `0` = the beginning of the stream, `$` = only new entries',
    default: '0',
    pattern: /^(\$|0|\d+(-\d+)?)$/,
    patternText: '0, $ or a stream id',
  }),
  batchSize: int('BATCH_SIZE', { description: 'Entries per XREADGROUP', default: 100, min: 1, max: 10_000 }),
  concurrency: int('CONCURRENCY', { description: 'Handlers running at once', default: 50, min: 1, max: 10_000 }),
  blockMs: int('BLOCK_MS', { description: 'How long one XREADGROUP blocks waiting for entries', default: 2000, min: 10, max: 60_000, unit: 'ms' }),
  maxDeliveries: int('MAX_DELIVERIES', { description: 'Deliveries before an entry goes to the dead-letter stream', default: 5, min: 1, max: 1000 }),
  claimIdleMs: int('CLAIM_IDLE_MS', { description: "Idle time after which another consumer's pending entry is reclaimed (XAUTOCLAIM)", default: 60_000, min: 100, unit: 'ms' }),
  retryDelayMs: int('RETRY_DELAY_MS', {
    description: 'Delay before this worker retries a failed entry itself (doubles per delivery, capped at CLAIM_IDLE_MS/2)',
    default: 1000,
    min: 0,
    unit: 'ms',
  }),
  deadLetterStream: str('DEAD_LETTER_STREAM', {
    description: 'Dead-letter stream',
    derive: (env) => `${env.STREAM?.trim() || DEFAULT_STREAM}:dlq`,
    defaultText: '<STREAM>:dlq',
    pattern: KEY,
    patternText: 'a stream key without spaces',
  }),
  shutdownGraceMs: int('SHUTDOWN_GRACE_MS', { description: 'On SIGTERM: time for in-flight handlers to finish', default: 25_000, min: 0, unit: 'ms' }),
  envelope: oneOf('ENVELOPE', ENVELOPES, {
    description: 'How entries are read: `cloudevents` (flat CloudEvents fields), `json-field` (one field holding a JSON document), `fields` (the fields as one flat object); see docs/worker.md',
    default: 'cloudevents',
  }),
  envelopeField: str('ENVELOPE_FIELD', { description: 'The field `ENVELOPE=json-field` reads', default: DEFAULT_ENVELOPE_FIELD, pattern: KEY, patternText: 'a field name without spaces' }),
  handler: optionalStr('HANDLER', { description: 'Path of a module exporting `handle(event, ctx)`; unset = the built-in simulated handler', defaultText: '(built-in simulated handler)' }),
  simWorkMs: num('SIM_WORK_MS', { description: 'Simulated handler: time per event', default: 5, min: 0 }),
  simFailRate: num('SIM_FAIL_RATE', { description: 'Simulated handler: share of deliveries that fail', default: 0, min: 0, max: 1 }),
  simPoisonType: optionalStr('SIM_POISON_TYPE', { description: 'Simulated handler: events of this type always fail (they end in the dead-letter stream)', defaultText: '(none)' }),
});

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
