import { randomBytes, randomUUID } from 'node:crypto';
import { CONTEXT_ATTRIBUTES, EXTENSION_NAME, schemaErrors, type FieldError } from './event-schema';

/** A CloudEvents extension value: in binary mode always a string; in JSON also an integer or a boolean. */
export type ExtensionValue = string | number | boolean;

/**
 * The event envelope (docs/design.md, "Event envelope"): flat CloudEvents 1.0 attributes as stream
 * fields, `data` as a JSON string (or `data_base64` for bytes), extension attributes as fields of their
 * own name, plus the extensions `correlationid` and `traceparent`.
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
  /**
   * The payload: a JSON value (JSON `datacontenttype`), a string (text of another type), a Buffer
   * (bytes: sent as `data_base64` or as a binary-mode body of a non-text type), or undefined (no data).
   */
  data?: unknown;
  /**
   * Extension attributes other than `correlationid`/`traceparent`, by name: always set (maybe empty)
   * by `buildEvent` and `parseEntry`; other envelope codecs may leave it out.
   */
  extensions?: Record<string, ExtensionValue>;
  correlationid: string;
  traceparent?: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Stream field listing the extensions whose value is not a string (`name:integer,name:boolean`). */
const EXT_TYPES_FIELD = 'ext_types';
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const JSON_MEDIA = /^(application|text)\/([^;]*\+)?json\s*(;.*)?$/i;

/** True when a `datacontenttype` says the data is JSON (`application/json`, `*\/*+json`, `text/json`). */
export function isJsonContentType(ct: string | undefined): boolean {
  return ct === undefined || JSON_MEDIA.test(ct);
}

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
 * Validates an input event (CloudEvents structured JSON, or plain JSON with the attributes) against
 * the event schema (event.schema.json) and fills `id`, `time`, `specversion`, `datacontenttype` and
 * `correlationid` when absent. Every error names its field; `prefix` names the event's position in a
 * batch (`[3].type`).
 */
export function buildEvent(input: unknown, ctx: BuildContext = {}, prefix = ''): Validated<StreamEvent> {
  const errors = schemaErrors(input, prefix);
  if (errors.length > 0) return { ok: false, errors };
  const o = input as Record<string, unknown>;
  const str = (k: string) => o[k] as string | undefined;
  // Beyond the schema's syntax: a date that does not exist (2026-02-30).
  const time = str('time');
  if (time !== undefined && Number.isNaN(Date.parse(time))) {
    return { ok: false, errors: [{ field: prefix ? `${prefix}.time` : 'time', message: 'must be an RFC 3339 timestamp' }] };
  }
  const extensions: Record<string, ExtensionValue> = {};
  for (const key of Object.keys(o)) if (!CONTEXT_ATTRIBUTES.has(key)) extensions[key] = o[key] as ExtensionValue;
  const bytes = typeof o.data_base64 === 'string' ? Buffer.from(o.data_base64, 'base64') : undefined;
  const tp = str('traceparent') ?? (ctx.traceparent && isTraceparent(ctx.traceparent) ? ctx.traceparent : undefined);
  const event: StreamEvent = {
    specversion: '1.0',
    id: str('id') ?? randomUUID(),
    source: str('source')!,
    type: str('type')!,
    time: time ?? (ctx.now?.() ?? new Date()).toISOString(),
    datacontenttype: str('datacontenttype') ?? (bytes ? 'application/octet-stream' : 'application/json'),
    data: bytes ?? o.data,
    extensions,
    correlationid: str('correlationid') ?? ctx.correlationId ?? (tp ? traceIdOf(tp) : newCorrelationId()),
  };
  for (const k of ['dataschema', 'schemaversion', 'subject'] as const) if (str(k) !== undefined) event[k] = str(k);
  if (tp !== undefined) event.traceparent = tp;
  return { ok: true, value: event };
}

/**
 * The stream fields of an event, in a stable order, ready for `XADD key * ...fields`: the attributes,
 * the extensions (plus `ext_types` for those that are not strings), then `data` (JSON text) or
 * `data_base64` (bytes), or neither when the event has no data.
 */
export function toFields(e: StreamEvent): string[] {
  const f = [
    'specversion', e.specversion, 'id', e.id, 'source', e.source, 'type', e.type, 'time', e.time,
    'datacontenttype', e.datacontenttype, 'correlationid', e.correlationid,
  ];
  if (e.dataschema !== undefined) f.push('dataschema', e.dataschema);
  if (e.schemaversion !== undefined) f.push('schemaversion', e.schemaversion);
  if (e.subject !== undefined) f.push('subject', e.subject);
  if (e.traceparent !== undefined) f.push('traceparent', e.traceparent);
  let types = '';
  for (const [k, v] of Object.entries(e.extensions ?? {})) {
    f.push(k, String(v));
    if (typeof v !== 'string') types += `${types ? ',' : ''}${k}:${typeof v === 'number' ? 'integer' : 'boolean'}`;
  }
  if (types) f.push(EXT_TYPES_FIELD, types);
  if (e.data instanceof Uint8Array) f.push('data_base64', Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('base64'));
  else if (e.data !== undefined) f.push('data', JSON.stringify(e.data));
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
  let base64: string | undefined;
  let extTypes: string | undefined;
  const extensions: Record<string, ExtensionValue> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = fields[i]!;
    const v = fields[i + 1]!;
    switch (k) {
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
      case 'data_base64': base64 = v; break;
      case EXT_TYPES_FIELD: extTypes = v; break;
      default: if (EXTENSION_NAME.test(k)) extensions[k] = v; break;
    }
  }
  if (specversion === undefined || id === undefined || source === undefined || type === undefined) {
    const required = { specversion, id, source, type };
    const missing = Object.entries(required).filter(([, v]) => v === undefined).map(([k]) => k);
    return { ok: false, reason: `missing field(s): ${missing.join(', ')}` };
  }
  if (specversion !== '1.0') return { ok: false, reason: `unsupported specversion ${JSON.stringify(specversion)}` };
  let data: unknown;
  if (base64 !== undefined) data = Buffer.from(base64, 'base64');
  else if (rawData !== undefined) {
    try {
      data = JSON.parse(rawData);
    } catch {
      return { ok: false, reason: 'field data is not valid JSON' };
    }
  }
  if (extTypes !== undefined) typeExtensions(extensions, extTypes);
  const event: StreamEvent = {
    specversion: '1.0',
    id,
    source,
    type,
    time: time ?? '',
    datacontenttype: datacontenttype ?? 'application/json',
    data,
    extensions,
    correlationid: correlationid ?? id,
  };
  if (dataschema !== undefined) event.dataschema = dataschema;
  if (schemaversion !== undefined) event.schemaversion = schemaversion;
  if (subject !== undefined) event.subject = subject;
  if (traceparent !== undefined) event.traceparent = traceparent;
  return { ok: true, event };
}

/** Gives back their JSON type to the extensions listed in `ext_types` (`name:integer,name:boolean`). */
function typeExtensions(extensions: Record<string, ExtensionValue>, types: string): void {
  for (const item of types.split(',')) {
    const [name, kind] = item.split(':');
    const v = name === undefined ? undefined : extensions[name];
    if (typeof v !== 'string') continue;
    if (kind === 'integer' && /^-?\d+$/.test(v)) extensions[name!] = Number(v);
    else if (kind === 'boolean' && (v === 'true' || v === 'false')) extensions[name!] = v === 'true';
  }
}
