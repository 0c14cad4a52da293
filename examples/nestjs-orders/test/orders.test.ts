/**
 * The NestJS example end to end: the three Nest apps as real child processes (dist/main.js) against
 * the shared Redis (a unique stream name). 5,000 orders through `POST /orders`; both groups process
 * all of them; the poison order and an event no method takes are dead-lettered; 1.0 and 1.1 go to
 * their methods; SIGTERM on the notification service mid-backlog drains it, and a restart finishes
 * the rest with none lost. Needs `tsc -b` first (make test builds).
 */
import { join } from 'node:path';
import Redis from 'ioredis';
import { REPO_ROOT, startService, waitFor, type ServiceProcess } from '../../../test-support/process';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';

const MAIN = join(REPO_ROOT, 'examples', 'nestjs-orders', 'dist', 'main.js');
const ORDERS = 5000;
const POISON_ID = 'poison-1';

jest.setTimeout(300_000);

const stream = uniquePrefix('nestjs-orders');
const processed = (what: string) => `${stream}:processed:${what}`;
let redis: Redis;
const procs: ServiceProcess[] = [];

function start(role: string, env: Record<string, string> = {}): ServiceProcess {
  const p = startService(`nestjs-orders/${role}`, { REDIS_URL: SHARED_REDIS_URL, STREAM: stream, PORT: '0', ...env, ROLE: role }, MAIN);
  procs.push(p);
  return p;
}

async function portOf(p: ServiceProcess): Promise<number> {
  const line = await p.waitForLog((l) => l.msg === 'listening', 90_000);
  return line.port as number;
}

/** The i-th order: even ones schema 1.0, odd ones 1.1; one poison order (1.1, an unknown SKU). */
function order(i: number): Record<string, unknown> {
  if (i === ORDERS - 1) return { orderId: POISON_ID, schemaVersion: '1.1', items: [{ sku: 'POISON', qty: 1 }], currency: 'EUR', email: 'p@example.com' };
  return i % 2 === 0
    ? { orderId: `o-${i}`, schemaVersion: '1.0', sku: `sku-${i % 7}`, qty: 1 + (i % 3), email: `c${i}@example.com` }
    : { orderId: `o-${i}`, schemaVersion: '1.1', items: [{ sku: `sku-${i % 5}`, qty: 1 }], currency: 'EUR', email: `c${i}@example.com` };
}

async function post(port: number, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as Record<string, unknown> };
}

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await deleteKeys(redis, stream);
  await redis.quit();
});

test('5,000 orders: both groups process all, poison and unrouted dead-lettered, 1.0/1.1 routed, SIGTERM drains with 0 lost', async () => {
  const orders = start('orders');
  const inventory = start('inventory', { MAX_DELIVERIES: '3', RETRY_DELAY_MS: '50', CONSUMER: 'inventory-1' });
  const [ordersPort, inventoryPort] = await Promise.all([portOf(orders), portOf(inventory)]);

  // Edge validation: application/problem+json naming the field.
  const bad = await post(ordersPort, { orderId: 'x', sku: 'a', qty: 0, email: 'a@b' });
  expect(bad.status).toBe(400);
  expect(bad.type).toMatch(/^application\/problem\+json/);
  expect(bad.body.detail).toMatch(/qty/);

  // The correlation id of the request is the event's.
  const first = await post(ordersPort, order(0), { 'x-correlation-id': 'corr-order-0' });
  expect(first.status).toBe(201);
  expect(first.body.correlationId).toBe('corr-order-0');

  // The rest, 20 requests at a time.
  let next = 1;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < ORDERS) {
        const i = next++;
        const r = await post(ordersPort, order(i));
        if (r.status !== 201) throw new Error(`POST /orders ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }),
  );
  // A client retrying a POST appends nothing twice (the order id is the event id).
  const again = await post(ordersPort, order(7));
  expect(again.body.duplicate).toBe(true);
  expect(await redis.xlen(stream)).toBe(ORDERS);
  const [[, firstFields]] = (await redis.xrange(stream, '-', '+', 'COUNT', 1)) as [string, string[]][];
  expect(firstFields[firstFields.indexOf('correlationid') + 1]).toBe('corr-order-0');

  // An event no method takes, appended as any producer would: dead-lettered as unrouted by both groups.
  await redis.xadd(stream, '*', 'specversion', '1.0', 'id', 'refund-1', 'source', 'test', 'type', 'order.refunded', 'time', new Date().toISOString(), 'datacontenttype', 'application/json', 'data', '{}', 'correlationid', 'corr-refund');

  // The notification service starts on the full backlog (its group reads from the stream's start), slowed
  // to 20 ms per order, 10 at a time (at most 500/s), so SIGTERM lands mid-backlog.
  let notifications = start('notifications', { NOTIFY_WORK_MS: '20', CONCURRENCY: '10', CONSUMER: 'notifications-1' });
  await portOf(notifications);
  // SIGTERM on notifications mid-backlog: it drains (running handlers finish and are acked, read ones handed back) and exits 0.
  await waitFor(async () => (await redis.scard(processed('notifications'))) >= 1000, 120_000, 50, 'notifications ≥ 1000');
  notifications.kill('SIGTERM');
  const exit = await notifications.exited;
  // Nest re-raises the signal after its shutdown hooks ran: killed by SIGTERM (or exit 0), never a crash.
  expect([0, 'SIGTERM']).toContain(exit.code ?? exit.signal);
  const drained = await notifications.waitForLog((l) => l.msg === 'worker drained', 1000);
  expect(drained).toMatchObject({ forced: false, aborted: 0, abandoned: 0 });
  const doneAtExit = await redis.scard(processed('notifications'));
  expect(doneAtExit).toBeLessThan(ORDERS); // it was stopped mid-backlog
  // Nothing left pending for the stopped consumer: every entry it held was acked or handed back.
  const pending = (await redis.xpending(stream, 'notifications')) as [number, ...unknown[]];
  expect(pending[0]).toBe(0);

  // Restarted under the same name, it finishes the rest.
  notifications = start('notifications', { CONCURRENCY: '50', CONSUMER: 'notifications-1' });
  await portOf(notifications);

  await waitFor(async () => (await redis.scard(processed('notifications'))) === ORDERS, 180_000, 100, 'notifications processed all');
  await waitFor(async () => (await redis.xlen(`${stream}:dlq`)) === 3, 120_000, 100, 'three dead letters');
  const v10 = await redis.smembers(processed('inventory:v1.0'));
  const v11 = await redis.smembers(processed('inventory:v1.1'));
  // 1.0 and 1.1 routed to their methods: every even order in v1.0, every odd one but the poison in v1.1.
  expect(v10.length).toBe(ORDERS / 2);
  expect(v11.length).toBe(ORDERS / 2 - 1);
  expect(v10.every((id) => Number(id.slice(2)) % 2 === 0)).toBe(true);
  expect(v11.every((id) => Number(id.slice(2)) % 2 === 1)).toBe(true);
  expect(v11).not.toContain(POISON_ID);
  expect(await redis.sismember(processed('notifications'), POISON_ID)).toBe(1);

  // The dead letters: the poison order after 3 deliveries, the refund unrouted in each group.
  const dlq = ((await redis.xrange(`${stream}:dlq`, '-', '+')) as [string, string[]][]).map(([, f]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) o[f[i]!] = f[i + 1]!;
    return o;
  });
  const summary = dlq.map((d) => `${d.id} ${d.dlq_reason} ${d.dlq_consumer}`).sort();
  expect(summary).toEqual(['order-poison-1 max_deliveries inventory-1', 'refund-1 unrouted inventory-1', 'refund-1 unrouted notifications-1']);
  expect(dlq.find((d) => d.id === 'order-poison-1')!.dlq_error).toMatch(/unknown sku POISON/);

  // Both groups: nothing pending, nothing left to read.
  const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
  for (const g of groups) {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < g.length; i += 2) o[String(g[i])] = g[i + 1];
    expect({ group: o.name, pending: o.pending, lag: o.lag }).toEqual({ group: o.name, pending: 0, lag: 0 });
  }
  expect(groups).toHaveLength(2);

  // terminus health and the workers' metrics on the app's registry, labelled by stream and group.
  const health = await fetch(`http://127.0.0.1:${inventoryPort}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ status: 'ok', info: { streams: { status: 'up' } } });
  const metrics = await (await fetch(`http://127.0.0.1:${inventoryPort}/metrics`)).text();
  const ok = new RegExp(`stream_workers_events_processed_total\\{outcome="ok",stream="${stream.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}",group="inventory"\\} (\\d+)`).exec(metrics);
  expect(Number(ok?.[1])).toBe(ORDERS - 1);

  const notified = await redis.scard(processed('notifications'));
  console.log(
    `nestjs-orders: ${ORDERS} orders posted; inventory 1.0→reserveV10 ${v10.length}, 1.1→reserveV11 ${v11.length}, ` +
      `dead-lettered ${summary.join(' | ')}; notifications ${notified} (${doneAtExit} before SIGTERM, drained: ` +
      `handedBack ${String(drained.handedBack)}, aborted ${String(drained.aborted)}), lost ${ORDERS - notified}`,
  );
});
