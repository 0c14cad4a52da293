import Redis from 'ioredis';
import { createCodec, type EnvelopeCodec } from '@stream-workers/core';
import { CliError, EXIT } from './errors';
import type { DlqFlags } from './flags';

/** One dead letter as the CLI shows it. */
export interface DeadLetter {
  /** Its entry id in the dead-letter stream. */
  id: string;
  /** The entry id the event had in the origin stream (`dlq_origin_id`). */
  originId: string | undefined;
  reason: string | undefined;
  error: string | undefined;
  deliveries: number | undefined;
  consumer: string | undefined;
  /** When it was dead-lettered (`dlq_time`). */
  time: string | undefined;
  /** Event type, id and correlation id as the envelope codec reads them (undefined for an entry it cannot read). */
  type: string | undefined;
  eventId: string | undefined;
  correlationId: string | undefined;
  /** The payload as the codec reads it. */
  data: unknown;
  /** The original fields, `dlq_*` left out. */
  fields: Record<string, string>;
}

const PAGE = 500;

/** Connects without retrying: the CLI reports an unreachable Redis (exit 1) instead of waiting. */
export async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, connectionName: 'stream-workers-cli', maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000, enableOfflineQueue: false });
  redis.on('error', () => undefined); // reported by the command that fails
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new CliError(`cannot reach Redis at ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`, EXIT.failure);
  }
  return redis;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/** Exit 3 unless the stream or its dead-letter stream exists, and neither key holds something else. */
export async function checkStreams(redis: Redis, f: DlqFlags): Promise<void> {
  const [origin, dlq] = await Promise.all([redis.type(f.stream), redis.type(f.deadLetterStream)]);
  for (const [key, t] of [[f.stream, origin], [f.deadLetterStream, dlq]] as const) {
    if (t !== 'none' && t !== 'stream') throw new CliError(`${key} is a ${t}, not a stream`, EXIT.unknownStream);
  }
  if (origin === 'none' && dlq === 'none') {
    throw new CliError(`unknown stream: neither ${f.stream} nor its dead-letter stream ${f.deadLetterStream} exists`, EXIT.unknownStream);
  }
}

export function codecOf(f: DlqFlags): EnvelopeCodec {
  return createCodec(f.envelope, f.envelopeField);
}

/** A dead-letter entry read into a {@link DeadLetter}. */
export function toDeadLetter(id: string, raw: readonly string[], codec: EnvelopeCodec, stream: string): DeadLetter {
  const meta: Record<string, string> = {};
  const original: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.startsWith('dlq_')) meta[k] = raw[i + 1]!;
    else original.push(k, raw[i + 1]!);
  }
  const fields: Record<string, string> = {};
  for (let i = 0; i < original.length; i += 2) fields[original[i]!] = original[i + 1]!;
  const decoded = codec.decode(original, { stream, entryId: meta.dlq_origin_id ?? id });
  return {
    id,
    originId: meta.dlq_origin_id,
    reason: meta.dlq_reason,
    error: meta.dlq_error,
    deliveries: meta.dlq_deliveries === undefined ? undefined : Number(meta.dlq_deliveries),
    consumer: meta.dlq_consumer,
    time: meta.dlq_time,
    type: decoded.ok ? decoded.event.type : fields.type,
    eventId: decoded.ok ? decoded.event.id : fields.id,
    correlationId: decoded.ok ? decoded.event.correlationid : fields.correlationid,
    data: decoded.ok ? decoded.event.data : undefined,
    fields,
  };
}

function matches(d: DeadLetter, f: DlqFlags): boolean {
  return (f.type === undefined || d.type === f.type) && (f.reason === undefined || d.reason === f.reason);
}

/**
 * The dead letters matching the flags, oldest first, a page (XRANGE … COUNT 500) at a time, at most
 * `--limit`. Entries deleted meanwhile (by a concurrent replay or purge) are simply not seen.
 */
export async function* scan(redis: Redis, f: DlqFlags): AsyncGenerator<DeadLetter[]> {
  const codec = codecOf(f);
  let start = f.since ?? '-';
  let left = f.limit ?? Infinity;
  while (left > 0) {
    const page = (await redis.xrange(f.deadLetterStream, start, '+', 'COUNT', PAGE)) as [string, string[]][];
    const out: DeadLetter[] = [];
    for (const [id, raw] of page) {
      if (left <= 0) break;
      const d = toDeadLetter(id, raw, codec, f.stream);
      if (!matches(d, f)) continue;
      out.push(d);
      left -= 1;
    }
    if (out.length > 0) yield out;
    if (page.length < PAGE) return;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/** The dead letters named by id; `missing` lists those not in the dead-letter stream. */
export async function byIds(redis: Redis, f: DlqFlags, ids: readonly string[]): Promise<{ found: DeadLetter[]; missing: string[] }> {
  const codec = codecOf(f);
  const p = redis.pipeline();
  for (const id of ids) p.xrange(f.deadLetterStream, id, id);
  const replies = (await p.exec()) ?? [];
  const found: DeadLetter[] = [];
  const missing: string[] = [];
  ids.forEach((id, i) => {
    const [err, rows] = replies[i] ?? [new Error('no reply'), null];
    if (err) throw err;
    const row = (rows as [string, string[]][])[0];
    if (row) found.push(toDeadLetter(row[0], row[1], codec, f.stream));
    else missing.push(id);
  });
  return { found, missing };
}
