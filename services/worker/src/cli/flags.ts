import { ENVELOPES, DEFAULT_ENVELOPE_FIELD, deadLetterKey, keyModeOf, keySlot, redisUrl, type EnvelopeName } from '@stream-workers/core';
import { usage } from './errors';

/** The flags every `dlq` command takes, as commander hands them over (strings, unchecked). */
export interface RawFlags {
  stream?: string;
  deadLetterStream?: string;
  redisUrl?: string;
  type?: string;
  reason?: string;
  since?: string;
  limit?: string;
  envelope?: string;
  envelopeField?: string;
  json?: boolean;
  dryRun?: boolean;
  progress?: boolean;
  all?: boolean;
}

/** The flags checked. */
export interface DlqFlags {
  stream: string;
  deadLetterStream: string;
  redisUrl: string;
  type: string | undefined;
  reason: string | undefined;
  /** Dead letters written at or after this time (ms since epoch), or this stream id. */
  since: string | undefined;
  limit: number | undefined;
  envelope: EnvelopeName;
  envelopeField: string;
  json: boolean;
  dryRun: boolean;
  progress: boolean;
  all: boolean;
}

const KEY = /^[^\s]{1,512}$/;
const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const URL_SPEC = redisUrl('--redis-url', { description: 'Redis URL', default: 'redis://127.0.0.1:6379' });

/** `--since`: a duration back from now (`30m`, `2h`, `7d`), an ISO 8601 time, or a stream id (`<ms>-<seq>`); the XRANGE start. */
export function parseSince(raw: string, now = Date.now()): string {
  const d = DURATION.exec(raw);
  if (d) return String(now - Number(d[1]) * UNIT_MS[d[2]!]!);
  if (/^\d+-\d+$/.test(raw)) return raw;
  if (/^\d{4}-\d{2}-\d{2}/.test(raw) && !Number.isNaN(Date.parse(raw))) return String(Date.parse(raw));
  throw usage(`--since ${JSON.stringify(raw)} is invalid: expected a duration (30m, 2h, 7d), an ISO 8601 time (2025-01-31T12:00:00Z) or a stream id (1700000000000-0)`);
}

/** Checks the flags; a usage error (exit 2) names the flag, the value and what is allowed. */
export function checkFlags(raw: RawFlags, env: NodeJS.ProcessEnv, defaultLimit: number | undefined): DlqFlags {
  const stream = raw.stream ?? env.STREAM;
  if (stream === undefined || stream === '') throw usage('--stream is required (or STREAM): the stream whose dead letters to read');
  if (!KEY.test(stream)) throw usage(`--stream ${JSON.stringify(stream)} is invalid: expected a stream key without spaces`);
  const mode = keyModeOf(env);
  let dls: string;
  try {
    dls = raw.deadLetterStream ?? deadLetterKey(stream, mode);
  } catch (err) {
    throw usage(`--stream ${JSON.stringify(stream)} is invalid: ${(err as Error).message}`);
  }
  // The replay script touches both keys: in a cluster they must share a slot.
  if (mode.cluster && keySlot(dls) !== keySlot(stream)) {
    throw usage(`--dead-letter-stream ${JSON.stringify(dls)} is invalid with REDIS_CLUSTER_NODES: it must hash to the slot of ${JSON.stringify(stream)} (use ${JSON.stringify(deadLetterKey(stream, mode))})`);
  }
  if (!KEY.test(dls)) throw usage(`--dead-letter-stream ${JSON.stringify(dls)} is invalid: expected a stream key without spaces`);
  const url = raw.redisUrl ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!URL_SPEC.accepts(url)) throw usage(`--redis-url ${JSON.stringify(url)} is invalid: expected ${URL_SPEC.allowed}`);
  let limit = defaultLimit;
  if (raw.limit !== undefined) {
    if (!/^\d+$/.test(raw.limit) || Number(raw.limit) < 1 || Number(raw.limit) > 10_000_000) throw usage(`--limit ${JSON.stringify(raw.limit)} is invalid: expected an integer from 1 to 10000000`);
    limit = Number(raw.limit);
  }
  const envelope = raw.envelope ?? env.ENVELOPE ?? 'cloudevents';
  if (!(ENVELOPES as readonly string[]).includes(envelope)) throw usage(`--envelope ${JSON.stringify(envelope)} is invalid: expected one of ${ENVELOPES.join(', ')}`);
  const envelopeField = raw.envelopeField ?? env.ENVELOPE_FIELD ?? DEFAULT_ENVELOPE_FIELD;
  if (!KEY.test(envelopeField)) throw usage(`--envelope-field ${JSON.stringify(envelopeField)} is invalid: expected a field name without spaces`);
  if (raw.reason !== undefined && !/^[a-z_]{1,64}$/.test(raw.reason)) throw usage(`--reason ${JSON.stringify(raw.reason)} is invalid: expected a reason such as max_deliveries, malformed, schema`);
  if (raw.type !== undefined && raw.type === '') throw usage('--type is invalid: expected a non-empty event type');
  return {
    stream,
    deadLetterStream: dls,
    redisUrl: url,
    type: raw.type,
    reason: raw.reason,
    since: raw.since === undefined ? undefined : parseSince(raw.since),
    limit,
    envelope: envelope as EnvelopeName,
    envelopeField,
    json: raw.json === true,
    dryRun: raw.dryRun === true,
    progress: raw.progress !== false,
    all: raw.all === true,
  };
}

/** True when a filter narrows the dead letters (purge without ids needs one, or --all). */
export function hasFilter(f: DlqFlags): boolean {
  return f.type !== undefined || f.reason !== undefined || f.since !== undefined || f.limit !== undefined;
}
