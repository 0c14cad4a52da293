import { isJsonContentType, type StreamEvent } from './envelope';
import { CONTEXT_ATTRIBUTES, EXTENSION_NAME, type FieldError } from './event-schema';

/**
 * The CloudEvents 1.0 HTTP protocol binding (binary and structured mode), both ways:
 * {@link fromBinaryHttp} turns a binary-mode request into the structured shape that `buildEvent`
 * validates; {@link toHttpBinary} / {@link toHttpStructured} / {@link sendEvent} send a
 * {@link StreamEvent} on, keeping its attributes, extensions and data (JSON, text or bytes).
 */

export const STRUCTURED_TYPE = 'application/cloudevents+json';
export const BATCH_TYPE = 'application/cloudevents-batch+json';

/** Header names of a request: node's lower-cased `IncomingHttpHeaders` or a plain record. */
export type HeaderBag = Record<string, string | string[] | undefined>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Attributes that never travel as `ce-` headers: the data, and the content type (it is Content-Type). */
const NOT_A_HEADER = new Set(['data', 'data_base64', 'datacontenttype']);

/** True when the request is binary mode: it carries `ce-specversion`. */
export function isBinaryMode(headers: HeaderBag): boolean {
  return headers['ce-specversion'] !== undefined;
}

/**
 * Binary mode → the structured event object: `ce-*` headers are the attributes and extensions
 * (values percent-decoded), `Content-Type` is `datacontenttype`, the body is the data: JSON for a JSON
 * type, text for `text/*` (or a `charset`) when it is valid UTF-8, else bytes (as `data_base64`); an
 * empty body is no data. Errors name the header (`ce-foo`) or `(body)`.
 */
export function fromBinaryHttp(headers: HeaderBag, body: Buffer): { ok: true; input: Record<string, unknown> } | { ok: false; errors: FieldError[] } {
  const input: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  for (const [name, raw] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || raw === undefined) continue;
    const attr = name.slice(3);
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (NOT_A_HEADER.has(attr)) {
      errors.push({ field: name, message: attr === 'datacontenttype' ? 'is not a binary-mode header: send the content type as Content-Type' : 'is not a binary-mode header: the data is the body' });
    } else if (!CONTEXT_ATTRIBUTES.has(attr) && !EXTENSION_NAME.test(attr)) {
      errors.push({ field: name, message: 'is not a CloudEvents attribute name (lowercase a-z and 0-9, at most 64)' });
    } else {
      const decoded = percentDecode(value);
      if (decoded === undefined) errors.push({ field: name, message: 'is not valid percent-encoded UTF-8' });
      else input[attr] = decoded;
    }
  }
  const ct = typeof headers['content-type'] === 'string' ? headers['content-type'].trim() : undefined;
  if (ct) input.datacontenttype = ct;
  if (body.length > 0) {
    if (isJsonContentType(ct)) {
      try {
        input.data = JSON.parse(utf8.decode(body)) as unknown;
      } catch {
        errors.push({ field: '(body)', message: `is not valid JSON (Content-Type ${ct ?? '(none)'} says JSON)` });
      }
    } else {
      const text = isTextType(ct) ? decodeUtf8(body) : undefined;
      if (text !== undefined) input.data = text;
      else input.data_base64 = body.toString('base64');
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, input };
}

/** Renames schema errors of a binary-mode event to what the client sent: `ce-type`, `content-type`, `(body)`. */
export function binaryFieldName(field: string): string {
  if (field === 'datacontenttype') return 'content-type';
  if (field === 'data' || field === 'data_base64') return '(body)';
  return field.startsWith('(') ? field : `ce-${field}`;
}

/** An HTTP message: headers and body (undefined when the event has no data). */
export interface HttpMessage {
  headers: Record<string, string>;
  body: Buffer | string | undefined;
}

/** Binary mode: attributes and extensions as `ce-*` headers (percent-encoded), the data as the body. */
export function toHttpBinary(e: StreamEvent): HttpMessage {
  const headers: Record<string, string> = {};
  const attrs: Record<string, unknown> = {
    specversion: e.specversion, id: e.id, source: e.source, type: e.type, time: e.time || undefined,
    dataschema: e.dataschema, schemaversion: e.schemaversion, subject: e.subject,
    correlationid: e.correlationid, traceparent: e.traceparent, ...e.extensions,
  };
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) headers[`ce-${k}`] = percentEncode(String(v));
  if (e.data === undefined) return { headers, body: undefined };
  headers['content-type'] = e.datacontenttype;
  if (e.data instanceof Uint8Array) return { headers, body: Buffer.from(e.data) };
  if (!isJsonContentType(e.datacontenttype) && typeof e.data === 'string') return { headers, body: e.data };
  return { headers, body: JSON.stringify(e.data) };
}

/** Structured mode: the whole event as `application/cloudevents+json` (bytes as `data_base64`). */
export function toHttpStructured(e: StreamEvent): HttpMessage {
  const o: Record<string, unknown> = {
    specversion: e.specversion, id: e.id, source: e.source, type: e.type, time: e.time || undefined,
    datacontenttype: e.datacontenttype, dataschema: e.dataschema, schemaversion: e.schemaversion,
    subject: e.subject, correlationid: e.correlationid, traceparent: e.traceparent, ...e.extensions,
  };
  if (e.data instanceof Uint8Array) o.data_base64 = Buffer.from(e.data).toString('base64');
  else if (e.data !== undefined) o.data = e.data;
  return { headers: { 'content-type': `${STRUCTURED_TYPE}; charset=utf-8` }, body: JSON.stringify(o) };
}

/** Options of {@link sendEvent}. */
export interface SendEventOptions {
  /** `binary` (default: `ce-*` headers, data as body) or `structured`. */
  mode?: 'binary' | 'structured';
  /** Extra request headers (e.g. `authorization`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * POSTs an event to `url` (a CloudEvents HTTP receiver: a Knative broker, another stream-workers
 * producer, …) without losing attributes, extensions or data. Resolves with the response status;
 * throws when the answer is not 2xx (the message holds the status and the start of the body).
 */
export async function sendEvent(url: string, event: StreamEvent, opts: SendEventOptions = {}): Promise<number> {
  const msg = opts.mode === 'structured' ? toHttpStructured(event) : toHttpBinary(event);
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...msg.headers, ...opts.headers },
    ...(msg.body !== undefined ? { body: msg.body } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (res.status < 200 || res.status > 299) {
    const text = (await res.text()).slice(0, 512);
    throw new Error(`sending event ${event.id} to ${url} answered ${res.status}: ${text}`);
  }
  await res.arrayBuffer();
  return res.status;
}

function isTextType(ct: string | undefined): boolean {
  return ct !== undefined && (/^text\//i.test(ct) || /;\s*charset\s*=\s*"?utf-?8"?/i.test(ct));
}

function decodeUtf8(b: Buffer): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

/** HTTP binding §3.1.3.2: space, `"`, `%` and anything outside printable ASCII are percent-encoded (UTF-8). */
export function percentEncode(s: string): string {
  return s.replace(/[^\x21-\x7e]|["%]/gu, (c) => [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

function percentDecode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
