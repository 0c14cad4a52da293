import { buildEvent, toFields, parseEntry, isTraceparent } from '../src/streams/envelope';
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
    const r = buildEvent({ specversion: '0.3', type: 5, time: 'yesterday', extra: 1, traceparent: 'x', data: 1 }, {}, '[2]');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.field).sort()).toEqual(['[2].extra', '[2].source', '[2].specversion', '[2].time', '[2].traceparent', '[2].type']);
  });

  test('missing data is rejected, null data is accepted', () => {
    expect(buildEvent({ source: 's', type: 't' }).ok).toBe(false);
    expect(buildEvent({ source: 's', type: 't', data: null }).ok).toBe(true);
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
    [['foo', 'bar'], 'missing field(s): specversion, id, source, type, data'],
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
