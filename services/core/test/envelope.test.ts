import { buildEvent, toFields, parseEntry, isTraceparent, fieldsToObject } from '../src/streams/envelope';
import { compareEntryIds, entryIdMs } from '../src/streams/keys';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('event envelope', () => {
  test('fills id, time, specversion, datacontenttype and correlationid', () => {
    const r = buildEvent({ source: 'orders', type: 'order.created', data: { n: 1 } }, { now: () => new Date('2026-01-02T03:04:05.000Z') });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({ specversion: '1.0', source: 'orders', type: 'order.created', time: '2026-01-02T03:04:05.000Z', datacontenttype: 'application/json', data: { n: 1 } });
    expect(r.value.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.value.correlationid).toMatch(/^[0-9a-f]{32}$/);
  });

  test('correlation id from context, else from the traceparent', () => {
    const a = buildEvent({ source: 's', type: 't', data: null }, { correlationId: 'abc' });
    expect(a.ok && a.value.correlationid).toBe('abc');
    const b = buildEvent({ source: 's', type: 't', data: null, traceparent: TP });
    expect(b.ok && b.value.correlationid).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  test('every invalid attribute is named', () => {
    const r = buildEvent({ specversion: '0.3', type: 5, time: 'yesterday', Extra: 1, my_ext: 'x', traceparent: 'x', data: 1 }, {}, '[2]');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.field).sort()).toEqual(['[2].Extra', '[2].my_ext', '[2].source', '[2].specversion', '[2].time', '[2].traceparent', '[2].type']);
    expect(r.errors.find((e) => e.field === '[2].time')!.message).toBe('must be an RFC 3339 timestamp');
    expect(r.errors.find((e) => e.field === '[2].Extra')!.message).toMatch(/not a known event attribute, nor an extension name/);
  });

  test('data is optional (CloudEvents): absent stays absent through the stream fields, null stays null', () => {
    const none = buildEvent({ source: 's', type: 't' });
    if (!none.ok) throw new Error('invalid');
    expect(toFields(none.value)).not.toContain('data');
    expect(parseEntry(toFields(none.value))).toEqual({ ok: true, event: none.value });
    const nul = buildEvent({ source: 's', type: 't', data: null });
    if (!nul.ok) throw new Error('invalid');
    expect((parseEntry(toFields(nul.value)) as { event: { data: unknown } }).event.data).toBeNull();
  });

  test('extensions (lowercase a-z0-9) are stored as fields of their name and read back with their JSON type', () => {
    const r = buildEvent({ source: 's', type: 't', data: 1, extra: 'x y', knativearrivaltime: '2026-01-02T03:04:05Z', n7: 42, flag: false, neg: -1 });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.value.extensions).toEqual({ extra: 'x y', knativearrivaltime: '2026-01-02T03:04:05Z', n7: 42, flag: false, neg: -1 });
    const f = fieldsToObject(toFields(r.value));
    expect(f).toMatchObject({ extra: 'x y', n7: '42', flag: 'false', ext_types: 'n7:integer,flag:boolean,neg:integer' });
    expect(parseEntry(toFields(r.value))).toEqual({ ok: true, event: r.value });
  });

  test.each([
    ['a float', 1.5],
    ['an integer past 32 bits', 2 ** 31],
    ['an object', { a: 1 }],
    ['null', null],
    ['a control character', 'a\u0001'],
  ])('an extension value that is %s is refused by name', (_what, v) => {
    const r = buildEvent({ source: 's', type: 't', ext: v });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ field: 'ext', message: expect.stringMatching(/^must be an extension value/) }]);
  });

  test('data_base64 is stored as bytes and read back as the same bytes (every byte value)', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = buildEvent({ source: 's', type: 't', datacontenttype: 'application/octet-stream', data_base64: bytes.toString('base64') });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(Buffer.isBuffer(r.value.data)).toBe(true);
    const p = parseEntry(toFields(r.value));
    if (!p.ok) throw new Error(p.reason);
    expect(Buffer.compare(p.event.data as Buffer, bytes)).toBe(0);
    expect(p.event.datacontenttype).toBe('application/octet-stream');
  });

  test('non-JSON data is text: a string is kept, anything else is refused; data and data_base64 together are refused', () => {
    const text = buildEvent({ source: 's', type: 't', datacontenttype: 'text/csv', data: 'a,b\n1,2' });
    if (!text.ok) throw new Error(JSON.stringify(text.errors));
    expect((parseEntry(toFields(text.value)) as { event: { data: unknown } }).event.data).toBe('a,b\n1,2');
    expect(buildEvent({ source: 's', type: 't', datacontenttype: 'text/csv', data: { a: 1 } })).toEqual({ ok: false, errors: [{ field: 'data', message: expect.stringContaining('must be a string') }] });
    expect(buildEvent({ source: 's', type: 't', data: 1, data_base64: 'AAAA' })).toEqual({ ok: false, errors: [{ field: 'data_base64', message: 'cannot be sent together with data' }] });
    expect(buildEvent({ source: 's', type: 't', data_base64: 'not base64!' })).toEqual({ ok: false, errors: [{ field: 'data_base64', message: 'must be base64 (RFC 4648, padded)' }] });
  });

  test('round trip through stream fields', () => {
    const r = buildEvent({ source: 's', type: 't', data: { a: [1, 'x'] }, traceparent: TP, schemaversion: '2', subject: 'orders/42' });
    if (!r.ok) throw new Error('invalid');
    expect(r.value.subject).toBe('orders/42');
    const p = parseEntry(toFields(r.value));
    expect(p).toEqual({ ok: true, event: r.value });
  });

  test('subject: kept when valid, rejected by name when empty or not a string', () => {
    expect(buildEvent({ source: 's', type: 't', data: null, subject: '' })).toEqual({ ok: false, errors: [{ field: 'subject', message: 'must be a non-empty string of at most 1024 characters' }] });
    expect(buildEvent({ source: 's', type: 't', data: null, subject: 7 }).ok).toBe(false);
  });

  test.each([
    [null, 'entry has no fields'],
    [['foo', 'bar'], 'missing field(s): specversion, id, source, type'],
    [['specversion', '1.0', 'id', '1', 'source', 's', 'type', 't', 'data', '{bad'], 'field data is not valid JSON'],
    [['specversion', '2', 'id', '1', 'source', 's', 'type', 't', 'data', '1'], 'unsupported specversion "2"'],
  ])('malformed entry %j', (fields, reason) => {
    expect(parseEntry(fields as string[] | null)).toEqual({ ok: false, reason });
  });

  test('traceparent validation', () => {
    expect(isTraceparent(TP)).toBe(true);
    expect(isTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBe(false);
  });

  test('stream id helpers', () => {
    expect(entryIdMs('1700000000000-5')).toBe(1700000000000);
    expect(compareEntryIds('10-1', '9-9')).toBe(1);
    expect(compareEntryIds('10-1', '10-2')).toBe(-1);
    expect(compareEntryIds('18446744073709551615-0', '18446744073709551614-99')).toBe(1);
  });
});
