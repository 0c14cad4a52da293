import type { StreamEvent } from '../envelope';

/** The envelope codecs a worker can read entries with (`ENVELOPE`, worker option `envelope`). */
export const ENVELOPES = ['cloudevents', 'json-field', 'fields'] as const;
export type EnvelopeName = (typeof ENVELOPES)[number];

/** The field `json-field` reads when `ENVELOPE_FIELD` / `envelopeField` is not set. */
export const DEFAULT_ENVELOPE_FIELD = 'event';

/** Where an entry came from: codecs that find no id or source in the entry fall back to these. */
export interface DecodeContext {
  /** The stream the entry was read from. */
  stream: string;
  /** The stream entry id (`<ms>-<seq>`). */
  entryId: string;
}

/** A decoded entry, or why the codec could not read it (the `dlq_error` of a `malformed` dead letter). */
export type DecodeResult = { ok: true; event: StreamEvent } | { ok: false; reason: string };

/**
 * Reads one stream entry (its flat `[k1, v1, k2, v2, …]` field list) into the event a handler gets.
 * Never throws: an entry it cannot read yields `{ ok: false, reason }`, a message naming what is wrong.
 */
export interface EnvelopeCodec {
  readonly name: EnvelopeName;
  decode(fields: readonly string[], ctx: DecodeContext): DecodeResult;
}
