import { z } from 'zod';
import { Contracts } from '../src/contracts';

const order = {
  type: 'object',
  required: ['orderId', 'amount'],
  properties: { orderId: { type: 'string' }, amount: { type: 'number', minimum: 0 }, email: { type: 'string', format: 'email' }, items: { type: 'array', items: { type: 'object', required: ['sku'] } } },
  additionalProperties: false,
};

describe('JSON Schema contracts (ajv)', () => {
  const c = new Contracts([
    { type: 'order.created', version: '1.1', schema: order },
    { type: 'order.created', schema: { type: 'object', required: ['id'] } },
  ]);

  test('a payload that passes gives undefined', () => {
    expect(c.check('order.created', '1.1', { orderId: 'o', amount: 1, email: 'a@b.io', items: [{ sku: 'x' }] })).toBeUndefined();
  });

  test.each([
    [{ orderId: 'o', amount: 'x' }, '/amount: must be number'],
    [{ orderId: 'o' }, '/amount: must have required property \'amount\''],
    [{ orderId: 'o', amount: 1, extra: true }, '/extra: must NOT have additional properties'],
    [{ orderId: 'o', amount: 1, email: 'nope' }, '/email: must match format "email"'],
    [{ orderId: 'o', amount: 1, items: [{ sku: 'a' }, {}] }, '/items/1/sku: must have required property \'sku\''],
    ['a string', '/: must be object'],
  ])('%j fails with its path: %s', (data, failure) => {
    expect(c.check('order.created', '1.1', data)).toBe(failure);
  });

  test('the versioned contract applies to its version; the unversioned one to the others; other types pass', () => {
    expect(c.check('order.created', '1.0', { orderId: 'o', amount: 1 })).toBe('/id: must have required property \'id\'');
    expect(c.check('order.created', undefined, { id: 1 })).toBeUndefined();
    expect(c.check('order.paid', '1.1', 'anything')).toBeUndefined();
  });
});

test('zod schemas: the first issue\'s path and message', () => {
  const c = new Contracts([{ type: 't', version: '2', schema: z.object({ lines: z.array(z.object({ qty: z.number().int() })) }) }]);
  expect(c.check('t', '2', { lines: [{ qty: 1 }] })).toBeUndefined();
  expect(c.check('t', '2', { lines: [{ qty: 1.5 }] })).toMatch(/^\/lines\/0\/qty: /);
  expect(c.check('t', '1', { lines: 'no contract for version 1' })).toBeUndefined();
});

test.each([
  ['not a list', 'contracts must be an array of { type, version?, schema }, got a string'],
  [[{ version: '1', schema: {} }], 'contracts[0].type must be a non-empty string, got an undefined'],
  [[{ type: 't', version: 1, schema: {} }], 'contracts[0].version must be a non-empty string, got a number'],
  [[{ type: 't', schema: 'x' }], 'contracts[0].schema must be a JSON Schema object or a zod schema, got a string'],
  [[{ type: 't', schema: { type: 'objekt' } }], 'contracts[0].schema is not a valid JSON Schema: '],
  [[{ type: 't', schema: {} }, { type: 't', schema: {} }], 'contracts[1]: a second contract for type "t"'],
])('invalid contracts %j are rejected when compiled: %s', (list, message) => {
  expect(() => new Contracts(list)).toThrow(message);
});
