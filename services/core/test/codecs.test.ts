import { buildEvent, createCodec, parseEntry, toFields, type DecodeResult } from '../src';

const ctx = { stream: 'orders_stream', entryId: '1700000000000-0' };
const jsonField = createCodec('json-field');
const ok = (r: DecodeResult) => {
  if (!r.ok) throw new Error(`expected a decoded event, got: ${r.reason}`);
  return r.event;
};
const reason = (r: DecodeResult) => {
  if (r.ok) throw new Error(`expected a malformed entry, got ${JSON.stringify(r.event)}`);
  return r.reason;
};

describe('json-field codec', () => {
  test('reads the seed articles\' entry: event field with type, data and metadata.version', () => {
    const doc = { type: 'order.created', data: { orderId: 'o-1', amount: 42 }, metadata: { version: '1.1', correlationId: 'c-9' } };
    const e = ok(jsonField.decode(['event', JSON.stringify(doc)], ctx));
    expect(e).toMatchObject({ type: 'order.created', schemaversion: '1.1', data: { orderId: 'o-1', amount: 42 }, correlationid: 'c-9', source: 'orders_stream' });
    // No id in the document: the stream entry id (stable across redeliveries).
    expect(e.id).toBe(ctx.entryId);
  });

  test('attribute aliases: eventType, id, version, schemaversion, correlationId; numbers as versions', () => {
    expect(ok(jsonField.decode(['event', JSON.stringify({ eventType: 'a', id: 'e-1', version: 2, data: null, correlationId: 'c' })], ctx))).toMatchObject({ type: 'a', id: 'e-1', schemaversion: '2', data: null, correlationid: 'c' });
    expect(ok(jsonField.decode(['event', JSON.stringify({ type: 'b', schemaversion: '1.0', data: 1 })], ctx))).toMatchObject({ type: 'b', schemaversion: '1.0', data: 1, correlationid: ctx.entryId });
  });

  test('a bare object (no data key) is the payload; type is empty; other fields of the entry are ignored', () => {
    const e = ok(createCodec('json-field', 'data').decode(['producer', 'x', 'data', JSON.stringify({ orderId: 'o-2', qty: 3 })], ctx));
    expect(e).toMatchObject({ type: '', data: { orderId: 'o-2', qty: 3 } });
    expect(e.schemaversion).toBeUndefined();
  });

  test.each([
    [['data', '{"a":1}'], 'json-field: missing field "event" (the entry has "data")'],
    [['event', '{not json'], 'json-field: field "event" is not valid JSON'],
    [['event', '[1,2]'], 'json-field: field "event" must hold a JSON object, got an array'],
    [['event', '"order.created"'], 'json-field: field "event" must hold a JSON object, got "order.created"'],
    [['event', '{"type":{"name":"x"},"data":1}'], 'json-field: field "event": type must be a non-empty string or a number, got {"name":"x"}'],
    [['event', '{"type":"t","metadata":{"version":true}}'], 'json-field: field "event": metadata.version must be a non-empty string or a number, got true'],
  ])('malformed %j: %s', (fields, message) => {
    expect(reason(jsonField.decode(fields, ctx))).toBe(message);
  });
});

describe('fields codec', () => {
  const fields = createCodec('fields');
  test('the fields as one flat object; attributes from fields when present', () => {
    const e = ok(fields.decode(['orderId', '42', 'type', 'order.paid', 'version', '3', 'correlationId', 'c-1'], ctx));
    expect(e).toMatchObject({ type: 'order.paid', id: ctx.entryId, schemaversion: '3', correlationid: 'c-1', data: { orderId: '42', type: 'order.paid', version: '3', correlationId: 'c-1' } });
  });
  test('an entry without fields is malformed', () => {
    expect(reason(fields.decode([], ctx))).toBe('fields: entry has no fields');
  });
});

describe('cloudevents codec (the default)', () => {
  test('decodes exactly as parseEntry', () => {
    const built = buildEvent({ source: 's', type: 't', data: { x: 1 }, schemaversion: '2' });
    if (!built.ok) throw new Error('bad event');
    const f = toFields(built.value);
    expect(createCodec('cloudevents').decode(f, ctx)).toEqual(parseEntry(f));
    expect(reason(createCodec('cloudevents').decode(['event', '{}'], ctx))).toBe('missing field(s): specversion, id, source, type'); // data is optional (issue 18)
  });
});

test('an unknown envelope name is a RangeError naming the choices', () => {
  expect(() => createCodec('xml' as never)).toThrow('unknown envelope "xml": expected one of cloudevents, json-field, fields');
});
