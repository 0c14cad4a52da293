import { commonSpecs, defineConfig, int, list, type ConfigOf } from '@stream-workers/core';

/** Stream names a client may name in a URL: printable, no spaces, no glob characters. */
const STREAM_NAME = /^[A-Za-z0-9_.:{}\-]{1,200}$/;

/**
 * The producer's environment (docs/design.md, "Runtime contract"). `main.ts` parses it; everything else
 * takes the typed result.
 */
export const producerConfig = defineConfig('producer', {
  ...commonSpecs(8080),
  streams: list('STREAMS', {
    description: 'Streams clients may append to (`POST /v1/streams/<name>/events`); any other name answers 404',
    default: ['events'],
    item: STREAM_NAME,
    itemText: 'stream names (letters, digits, `_ . : - { }`, at most 200 characters)',
  }),
  maxEventBytes: int('MAX_EVENT_BYTES', {
    description: 'Largest request body of one event, and largest encoded event inside a batch; above it the request answers 413',
    default: 262_144,
    min: 256,
    max: 64 * 1024 * 1024,
    unit: 'bytes',
  }),
  maxBatchBytes: int('MAX_BATCH_BYTES', {
    description: 'Largest request body of a batch (`application/cloudevents-batch+json`); above it the request answers 413',
    default: 4 * 1024 * 1024,
    min: 256,
    max: 256 * 1024 * 1024,
    unit: 'bytes',
  }),
  maxLen: int('MAXLEN', {
    description: 'Approximate trim of each stream on append (`XADD … MAXLEN ~ n`); 0 = never trim',
    default: 1_000_000,
    min: 0,
  }),
  idempotencyTtlS: int('IDEMPOTENCY_TTL_S', {
    description: 'How long an event `source`+`id` sent by the client is remembered: a resend within it returns the first entry id and appends nothing',
    default: 86_400,
    min: 1,
    unit: 's',
  }),
  batchMax: int('BATCH_MAX', {
    description: 'Most events in one batch request; above it the request answers 413',
    default: 1000,
    min: 1,
    max: 100_000,
  }),
  publishTimeoutMs: int('PUBLISH_TIMEOUT_MS', {
    description: 'Deadline for Redis to confirm an append; past it the request answers 503 with Retry-After (the append may still land: resend with the same ids)',
    default: 2000,
    min: 10,
    max: 120_000,
    unit: 'ms',
  }),
});

export type ProducerConfig = ConfigOf<typeof producerConfig.specs>;
