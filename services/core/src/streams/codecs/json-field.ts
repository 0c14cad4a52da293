import type { StreamEvent } from '../envelope';
import { AttributeError, isObject, pick } from './attributes';
import { DEFAULT_ENVELOPE_FIELD, type EnvelopeCodec } from './codec';

/**
 * `json-field`: one field (`event` unless told otherwise) holds a JSON document, as many existing
 * producers write it (`XADD orders * event '{"type":…,"data":…,"metadata":{"version":"1.1"}}'`, or a
 * `data` field with a bare object). The event:
 * - `type` from `type` or `eventType` (absent: the empty string);
 * - `id` from `id` (absent: the stream entry id);
 * - `schemaversion` from `version`, `metadata.version` or `schemaversion`;
 * - `correlationid` from `correlationId`, `metadata.correlationId` or `correlationid` (absent: the id);
 * - `source` from `source` (absent: the stream name), `time` from `time` or `timestamp`;
 * - `data` from `data` when the document has it, else the whole document.
 * Other fields of the entry are ignored. Malformed: the field is missing, is not JSON, is not a JSON
 * object, or an attribute above has the wrong kind.
 */
export function jsonFieldCodec(field: string = DEFAULT_ENVELOPE_FIELD): EnvelopeCodec {
  return {
    name: 'json-field',
    decode(fields, ctx) {
      let raw: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === field) raw = fields[i + 1];
      if (raw === undefined) {
        const names = [];
        for (let i = 0; i < fields.length; i += 2) names.push(fields[i]);
        return { ok: false, reason: `json-field: missing field ${JSON.stringify(field)} (the entry has ${names.map((n) => JSON.stringify(n)).join(', ') || 'no fields'})` };
      }
      let doc: unknown;
      try {
        doc = JSON.parse(raw);
      } catch {
        return { ok: false, reason: `json-field: field ${JSON.stringify(field)} is not valid JSON` };
      }
      if (!isObject(doc)) return { ok: false, reason: `json-field: field ${JSON.stringify(field)} must hold a JSON object, got ${Array.isArray(doc) ? 'an array' : JSON.stringify(doc)}` };
      try {
        return { ok: true, event: fromDocument(doc, field, ctx.stream, ctx.entryId) };
      } catch (err) {
        if (err instanceof AttributeError) return { ok: false, reason: err.message };
        throw err;
      }
    },
  };
}

function fromDocument(doc: Record<string, unknown>, field: string, stream: string, entryId: string): StreamEvent {
  const where = `json-field: field ${JSON.stringify(field)}`;
  const id = pick(doc, ['id'], where) ?? entryId;
  const event: StreamEvent = {
    specversion: '1.0',
    id,
    source: pick(doc, ['source'], where) ?? stream,
    type: pick(doc, ['type', 'eventType'], where) ?? '',
    time: pick(doc, ['time', 'timestamp'], where) ?? '',
    datacontenttype: 'application/json',
    data: 'data' in doc ? doc.data : doc,
    correlationid: pick(doc, ['correlationId', 'metadata.correlationId', 'correlationid'], where) ?? id,
  };
  const version = pick(doc, ['version', 'metadata.version', 'schemaversion'], where);
  if (version !== undefined) event.schemaversion = version;
  return event;
}
