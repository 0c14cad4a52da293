/**
 * StreamRouter, the per-event part of @stream-workers/nestjs: which method an event goes to (type and
 * schema version, then the fallbacks), `unrouted` dead letters, clashing routes, and the correlation
 * the method runs in. Pure logic: no Redis (the example's tests run it against Redis end to end).
 */
import { isDeadLetterError, type StreamEvent } from '@stream-workers/core';
import type { HandlerContext } from '@stream-workers/worker';
import { currentCorrelation, type CorrelationContext } from '../src/correlation';
import { checkModuleOptions } from '../src/module';
import { StreamRouter, type RouteTarget } from '../src/router';

const ctx = {} as HandlerContext; // the router passes it through untouched

function event(type: string, schemaversion?: string, traceparent?: string): StreamEvent {
  return {
    specversion: '1.0',
    id: `e-${type}-${schemaversion ?? 'none'}`,
    source: '/test',
    type,
    time: '2026-12-06T00:00:00Z',
    datacontenttype: 'application/json',
    correlationid: `c-${type}`,
    ...(schemaversion !== undefined ? { schemaversion } : {}),
    ...(traceparent !== undefined ? { traceparent } : {}),
  };
}

/** A router whose methods record their name, the event and the correlation current while they ran. */
function routerWith(routes: Array<Pick<RouteTarget, 'type' | 'schemaVersion' | 'name'>>) {
  const calls: Array<{ name: string; id: string; correlation: CorrelationContext | undefined; ctx: HandlerContext }> = [];
  const router = new StreamRouter('orders', 'inventory');
  for (const r of routes) {
    router.add({ ...r, handle: (e, c) => void calls.push({ name: r.name, id: e.id, correlation: currentCorrelation(), ctx: c }) });
  }
  return { router, calls };
}

test('an event goes to the method of its type and version, else its type, else its version, else the catch-all', () => {
  const { router, calls } = routerWith([
    { name: 'created10', type: 'order.created', schemaVersion: '1.0' },
    { name: 'createdAny', type: 'order.created' },
    { name: 'anyType11', schemaVersion: '1.1' },
    { name: 'catchAll' },
  ]);
  router.handle(event('order.created', '1.0'), ctx);
  router.handle(event('order.created', '1.1'), ctx);
  router.handle(event('order.created'), ctx);
  router.handle(event('order.paid', '1.1'), ctx);
  router.handle(event('order.paid', '2.0'), ctx);
  router.handle(event('order.paid'), ctx);
  expect(calls.map((c) => c.name)).toEqual(['created10', 'createdAny', 'createdAny', 'anyType11', 'catchAll', 'catchAll']);
  expect(calls.every((c) => c.ctx === ctx)).toBe(true);
  expect(router.routes().map((r) => r.name)).toEqual(['created10', 'createdAny', 'anyType11', 'catchAll']);
});

test('an event no method takes throws a DeadLetterError with reason unrouted naming its type, version, stream and group', () => {
  const { router, calls } = routerWith([{ name: 'created10', type: 'order.created', schemaVersion: '1.0' }]);
  let thrown: unknown;
  try {
    router.handle(event('order.created', '2.0'), ctx);
  } catch (err) {
    thrown = err;
  }
  expect(isDeadLetterError(thrown)).toBe(true);
  expect((thrown as { reason: string }).reason).toBe('unrouted');
  expect((thrown as Error).message).toBe('no @StreamHandler takes type "order.created" schemaversion "2.0" on stream "orders" group "inventory"');
  expect(calls).toEqual([]);
  expect(router.resolve({ type: 'order.created', schemaversion: '1.0' })?.name).toBe('created10');
  expect(router.resolve({ type: 'order.created', schemaversion: undefined })).toBeUndefined();
});

test('two methods taking the same type and version clash at bootstrap, naming both', () => {
  const { router } = routerWith([{ name: 'A.one', type: 'order.created' }]);
  expect(() => router.add({ name: 'B.two', type: 'order.created', handle: () => undefined })).toThrow(
    '@StreamHandler: B.two and A.one both take stream "orders" group "inventory" type "order.created" schemaVersion (any)',
  );
  // Another version of the same type is a route of its own.
  expect(() => router.add({ name: 'B.three', type: 'order.created', schemaVersion: '1.1', handle: () => undefined })).not.toThrow();
});

test("the method runs with the event's correlation as the current one; outside of it there is none", async () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const seen: Array<CorrelationContext | undefined> = [];
  const router = new StreamRouter('orders', 'inventory');
  router.add({
    name: 'async',
    handle: async () => {
      await new Promise((r) => setImmediate(r));
      seen.push(currentCorrelation()); // after an await: still the event's
    },
  });
  await router.handle(event('order.created', '1.0', tp), ctx);
  await router.handle(event('order.paid'), ctx);
  expect(seen).toEqual([{ correlationId: 'c-order.created', traceparent: tp }, { correlationId: 'c-order.paid' }]);
  expect(currentCorrelation()).toBeUndefined();
});

test('with correlate false the method runs without a current correlation (module option handlerCorrelation: false)', async () => {
  const seen: Array<CorrelationContext | undefined> = [];
  const router = new StreamRouter('orders', 'inventory', false);
  router.add({ name: 'plain', type: 'order.created', handle: () => void seen.push(currentCorrelation()) });
  await router.handle(event('order.created'), ctx);
  expect(seen).toEqual([undefined]);
  expect(() => router.handle(event('order.paid'), ctx)).toThrow('no @StreamHandler takes type "order.paid"');
});

test('the module rejects a handlerCorrelation that is not a boolean, naming it', () => {
  expect(() => checkModuleOptions({ redisUrl: 'redis://127.0.0.1:6379', handlerCorrelation: 'no' })).toThrow(
    'StreamWorkersModule: option handlerCorrelation must be a boolean, got "no"',
  );
  expect(checkModuleOptions({ redisUrl: 'redis://127.0.0.1:6379', handlerCorrelation: false }).handlerCorrelation).toBe(false);
});
