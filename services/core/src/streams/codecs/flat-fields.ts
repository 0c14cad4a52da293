import type { StreamEvent } from '../envelope';
import type { EnvelopeCodec } from './codec';

/**
 * `fields`: the entry's fields as one flat object of strings, for any producer
 * (`XADD s * orderId 42 amount 9.5` gives `data` `{ orderId: '42', amount: '9.5' }`). The attributes
 * come from fields when present: `type` (else the empty string), `id` (else the entry id),
 * `schemaversion` or `version`, `correlationid` or `correlationId` (else the id), `source` (else the
 * stream), `time`. A field that appears twice keeps its last value. Malformed: an entry without fields.
 */
export const flatFieldsCodec: EnvelopeCodec = {
  name: 'fields',
  decode(fields, ctx) {
    if (fields.length < 2) return { ok: false, reason: 'fields: entry has no fields' };
    const data: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) data[fields[i]!] = fields[i + 1]!;
    const id = data.id || ctx.entryId;
    const event: StreamEvent = {
      specversion: '1.0',
      id,
      source: data.source || ctx.stream,
      type: data.type ?? '',
      time: data.time ?? '',
      datacontenttype: 'application/json',
      data,
      correlationid: data.correlationid || data.correlationId || id,
    };
    const version = data.schemaversion || data.version;
    if (version) event.schemaversion = version;
    return { ok: true, event };
  },
};
