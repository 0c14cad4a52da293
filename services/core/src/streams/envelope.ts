import { randomBytes, randomUUID } from 'node:crypto';

/**
 * The event envelope (docs/design.md, "Event envelope"): flat CloudEvents 1.0 attributes as stream
 * fields, `data` as a JSON string, plus the extensions `correlationid` and `traceparent`.
 */
export interface StreamEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  /** RFC 3339 timestamp. */
  time: string;
  datacontenttype: string;
  dataschema?: string;
  schemaversion?: string;
  /** CloudEvents `subject`: the subject of the event in the context of the source. */
  subject?: string;
  /** The payload, parsed from the JSON string stored in the `data` field. */
  data: unknown;
  correlationid: string;
  traceparent?: string;
}

/** A field that failed validation, named as the client sent it. */
export interface FieldError {
  field: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Attributes the envelope knows; any other top-level key of an input event is rejected by name. */
const KNOWN = new Set([
  'specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'dataschema', 'schemaversion',
  'data', 'data_base64', 'correlationid', 'traceparent', 'subject',
]);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Attribute values that land in Redis key names or logs: printable, bounded. */
const TOKEN = /^[\x21-\x7e]{1,256}$/;
const TEXT = /^[^\x00-\x1f\x7f]{1,1024}$/;

/** Context added to every event built by {@link buildEvent}. */
export interface BuildContext {
  /** Correlation id for events that carry none (e.g. from `X-Correlation-Id`). */
  correlationId?: string;
  /** W3C traceparent for events that carry none. */
  traceparent?: string;
  /** Clock for `time`; default now. */
  now?: () => Date;
}

/** A W3C-style random id (32 hex chars) used as a correlation id when none is given. */
export function newCorrelationId(): string {
  return randomBytes(16).toString('hex');
}

/** True when `s` is a valid W3C traceparent header value. */
export function isTraceparent(s: string): boolean {
  return TRACEPARENT.test(s) && !/^[0-9a-f]{2}-0{32}-/.test(s) && !/-0{16}-[0-9a-f]{2}$/.test(s);
}

/** The trace id of a traceparent, used as correlation id when no other is given. */
export function traceIdOf(traceparent: string): string {
  return traceparent.split('-')[1]!;
}

/**
 * Validates an input event (CloudEvents structured JSON or plain JSON with the attributes) and fills
 * `id`, `time`, `specversion`, `datacontenttype` and `correlationid` when absent. Every error names
 * its field. `prefix` names the event's position in a batch (`[3].type`).
 */
export function buildEvent(input: unknown, ctx: BuildContext = {}, prefix = ''): Validated<StreamEvent> {
  const errors: FieldError[] = [];
  const at = (f: string) => (prefix ? `${prefix}.${f}` : f);
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ field: prefix || '(body)', message: 'must be a JSON object with the event attributes' }] };
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) errors.push({ field: at(key), message: 'is not a known event attribute' });
  }
  const str = (f: string, re: RegExp, required: boolean, what: string): string | undefined => {
    const v = o[f];
    if (v === undefined || v === null) {
      if (required) errors.push({ field: at(f), message: 'is required' });
      return undefined;
    }
    if (typeof v !== 'string' || !re.test(v)) {
      errors.push({ field: at(f), message: `must be ${what}` });
      return undefined;
    }
    return v;
  };
  const specversion = str('specversion', /^1\.0$/, false, '"1.0"');
  const id = str('id', TOKEN, false, 'a string of 1 to 256 printable characters without spaces');
  const source = str('source', TOKEN, true, 'a URI-reference of 1 to 256 printable characters without spaces');
  const type = str('type', TEXT, true, 'a non-empty string of at most 1024 characters');
  const time = str('time', RFC3339, false, 'an RFC 3339 timestamp');
  const datacontenttype = str('datacontenttype', /^application\/(.+\+)?json(;.*)?$/i, false, 'application/json (or a +json type)');
  const dataschema = str('dataschema', TEXT, false, 'a URI of at most 1024 characters');
  const schemaversion = str('schemaversion', TOKEN, false, 'a version string without spaces');
  const subject = str('subject', TEXT, false, 'a non-empty string of at most 1024 characters');
  const correlationid = str('correlationid', TOKEN, false, 'a string of 1 to 256 printable characters without spaces');
  const traceparent = str('traceparent', /^.*$/, false, 'a W3C traceparent');
  if (traceparent !== undefined && !isTraceparent(traceparent)) errors.push({ field: at('traceparent'), message: 'must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)' });
  if (time !== undefined && Number.isNaN(Date.parse(time))) errors.push({ field: at('time'), message: 'must be an RFC 3339 timestamp' });
  if ('data_base64' in o) errors.push({ field: at('data_base64'), message: 'binary data is not supported; send JSON in data' });
  if (!('data' in o)) errors.push({ field: at('data'), message: 'is required (use null for an event without payload)' });
  if (errors.length > 0) return { ok: false, errors };
  const tp = traceparent ?? (ctx.traceparent && isTraceparent(ctx.traceparent) ? ctx.traceparent : undefined);
  const event: StreamEvent = {
    specversion: (specversion ?? '1.0') as '1.0',
    id: id ?? randomUUID(),
    source: source!,
    type: type!,
    time: time ?? (ctx.now?.() ?? new Date()).toISOString(),
    datacontenttype: datacontenttype ?? 'application/json',
    data: o.data,
    correlationid: correlationid ?? ctx.correlationId ?? (tp ? traceIdOf(tp) : newCorrelationId()),
  };
  if (dataschema !== undefined) event.dataschema = dataschema;
  if (schemaversion !== undefined) event.schemaversion = schemaversion;
  if (subject !== undefined) event.subject = subject;
  if (tp !== undefined) event.traceparent = tp;
  return { ok: true, value: event };
}

/** The stream fields of an event, in a stable order, ready for `XADD key * ...fields`. */
export function toFields(e: StreamEvent): string[] {
  const f = [
    'specversion', e.specversion, 'id', e.id, 'source', e.source, 'type', e.type, 'time', e.time,
    'datacontenttype', e.datacontenttype, 'correlationid', e.correlationid,
  ];
  if (e.dataschema !== undefined) f.push('dataschema', e.dataschema);
  if (e.schemaversion !== undefined) f.push('schemaversion', e.schemaversion);
  if (e.subject !== undefined) f.push('subject', e.subject);
  if (e.traceparent !== undefined) f.push('traceparent', e.traceparent);
  f.push('data', JSON.stringify(e.data ?? null));
  return f;
}

/** Turns a flat `[k1, v1, k2, v2, ...]` field list into an object (last value wins). */
export function fieldsToObject(fields: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) o[fields[i]!] = fields[i + 1]!;
  return o;
}

/**
 * Parses a stream entry read by a worker. An entry that is not a valid envelope yields a reason
 * (it goes to the dead-letter stream with reason `malformed` on first delivery).
 */
export function parseEntry(fields: readonly string[] | null): { ok: true; event: StreamEvent } | { ok: false; reason: string } {
  if (!fields || fields.length === 0) return { ok: false, reason: 'entry has no fields' };
  // One pass over the fields into locals (the worker's hot path: no intermediate object, last value wins).
  let specversion: string | undefined;
  let id: string | undefined;
  let source: string | undefined;
  let type: string | undefined;
  let time: string | undefined;
  let datacontenttype: string | undefined;
  let dataschema: string | undefined;
  let schemaversion: string | undefined;
  let subject: string | undefined;
  let correlationid: string | undefined;
  let traceparent: string | undefined;
  let rawData: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const v = fields[i + 1]!;
    switch (fields[i]) {
      case 'specversion': specversion = v; break;
      case 'id': id = v; break;
      case 'source': source = v; break;
      case 'type': type = v; break;
      case 'time': time = v; break;
      case 'datacontenttype': datacontenttype = v; break;
      case 'dataschema': dataschema = v; break;
      case 'schemaversion': schemaversion = v; break;
      case 'subject': subject = v; break;
      case 'correlationid': correlationid = v; break;
      case 'traceparent': traceparent = v; break;
      case 'data': rawData = v; break;
      default: break;
    }
  }
  if (specversion === undefined || id === undefined || source === undefined || type === undefined || rawData === undefined) {
    const required = { specversion, id, source, type, data: rawData };
    const missing = Object.entries(required).filter(([, v]) => v === undefined).map(([k]) => k);
    return { ok: false, reason: `missing field(s): ${missing.join(', ')}` };
  }
  if (specversion !== '1.0') return { ok: false, reason: `unsupported specversion ${JSON.stringify(specversion)}` };
  let data: unknown;
  try {
    data = JSON.parse(rawData);
  } catch {
    return { ok: false, reason: 'field data is not valid JSON' };
  }
  const event: StreamEvent = {
    specversion: '1.0',
    id,
    source,
    type,
    time: time ?? '',
    datacontenttype: datacontenttype ?? 'application/json',
    data,
    correlationid: correlationid ?? id,
  };
  if (dataschema !== undefined) event.dataschema = dataschema;
  if (schemaversion !== undefined) event.schemaversion = schemaversion;
  if (subject !== undefined) event.subject = subject;
  if (traceparent !== undefined) event.traceparent = traceparent;
  return { ok: true, event };
}
