/**
 * Must show 3 (issue 15): entries written exactly as the seed articles write them (`XADD orders_stream
 * * event '{"type":…,"data":…,"metadata":{"version":"1.1"}}'`, and a `data` field with a bare object),
 * sent through `redis-cli`, processed by the real worker binary with ENVELOPE=json-field; entries of
 * other shapes dead-lettered (reason malformed) with the codec's message; a payload failing the
 * handler's contract dead-lettered on its first delivery (reason schema, the failing path).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { fieldsToObject } from '../../core/src';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import type { ServiceProcess } from '../../../test-support/process';
import { startWorker, waitDrained } from './support';

const HANDLER = join(__dirname, 'fixtures', 'codec-handler.js');
const prefix = uniquePrefix('codecs');
const redis = new Redis(SHARED_REDIS_URL);
const workers: ServiceProcess[] = [];

/** Feeds commands to `redis-cli` on stdin, one per line, quoted as in the articles. */
function redisCli(lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-u', SHARED_REDIS_URL], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli exited ${code}: ${out}`))));
    p.stdin.end(lines.join('\n') + '\n');
  });
}

interface Seen { entryId: string; delivery: number; id: string; type: string; version: string | null; correlationid: string; data: unknown }
async function seen(): Promise<Seen[]> {
  return (await redis.lrange(`${prefix}:rec:events`, 0, -1)).map((s) => JSON.parse(s) as Seen);
}
async function deadLetters(stream: string): Promise<Record<string, string>[]> {
  return ((await redis.xrange(`${stream}:dlq`, '-', '+')) as [string, string[]][]).map(([, f]) => fieldsToObject(f));
}

afterAll(async () => {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

test('ENVELOPE=json-field: the seed articles\' entries are processed; other shapes are dead-lettered with the codec\'s message', async () => {
  const orders = `${prefix}:orders_stream`;
  const bare = `${prefix}:inventory_stream`;
  const seed = (i: number, version: string, amount: unknown) => `'${JSON.stringify({ type: 'order.created', data: { orderId: `o-${i}`, amount }, metadata: { version } })}'`;
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(`XADD ${orders} * event ${seed(i, '1.1', i)}`);
  lines.push(`XADD ${orders} * event ${seed(100, '1.0', 'twelve')}`); // 1.0 has no contract: processed
  lines.push(`XADD ${orders} * event ${seed(101, '1.1', 'twelve')}`); // fails the 1.1 contract
  lines.push(`XADD ${orders} * event '{"eventType":"order.cancelled","id":"evt-7","correlationId":"corr-7","version":2,"data":{"orderId":"o-7"}}'`);
  // Other shapes on the json-field stream: each dead-lettered with the codec's message.
  lines.push(`XADD ${orders} * data '{"orderId":"o-x"}'`);
  lines.push(`XADD ${orders} * event 'not json'`);
  lines.push(`XADD ${orders} * event '[1,2,3]'`);
  lines.push(`XADD ${orders} * event '{"type":["a"],"data":{}}'`);
  for (let i = 0; i < 50; i++) lines.push(`XADD ${bare} * data '{"orderId":"b-${i}","qty":${i}}'`);
  await redisCli(lines);

  const common = { REDIS_URL: SHARED_REDIS_URL, GROUP: 'g', HANDLER, RECORD_KEY: `${prefix}:rec`, ENVELOPE: 'json-field', RETRY_DELAY_MS: '50' };
  workers.push(startWorker({ ...common, STREAM: orders, CONSUMER: 'c-orders' }));
  workers.push(startWorker({ ...common, STREAM: bare, CONSUMER: 'c-bare', ENVELOPE_FIELD: 'data' }));
  await waitDrained(redis, orders, 'g');
  await waitDrained(redis, bare, 'g');

  const events = await seen();
  const created = events.filter((e) => e.type === 'order.created');
  expect(created).toHaveLength(101);
  expect(created.filter((e) => e.version === '1.1').map((e) => (e.data as { orderId: string }).orderId).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `o-${i}`).sort());
  expect(created.find((e) => e.version === '1.0')!.data).toEqual({ orderId: 'o-100', amount: 'twelve' });
  expect(events.find((e) => e.type === 'order.cancelled')).toMatchObject({ id: 'evt-7', correlationid: 'corr-7', version: '2', data: { orderId: 'o-7' } });
  // The bare objects: the whole document is the payload.
  const bareEvents = events.filter((e) => e.type === '');
  expect(bareEvents).toHaveLength(50);
  expect(bareEvents.find((e) => (e.data as { orderId: string }).orderId === 'b-7')!.data).toEqual({ orderId: 'b-7', qty: 7 });
  expect(events.every((e) => e.delivery === 1)).toBe(true);

  const dead = await deadLetters(orders);
  const byError = (s: string) => dead.filter((d) => d.dlq_error === s);
  expect(dead).toHaveLength(5);
  expect(byError('json-field: missing field "event" (the entry has "data")')).toHaveLength(1);
  expect(byError('json-field: field "event" is not valid JSON')).toHaveLength(1);
  expect(byError('json-field: field "event" must hold a JSON object, got an array')).toHaveLength(1);
  expect(byError('json-field: field "event": type must be a non-empty string or a number, got ["a"]')).toHaveLength(1);
  expect(dead.filter((d) => d.dlq_reason === 'malformed')).toHaveLength(4);
  // The contract failure: on its first delivery (no retries), with the failing path; the handler never ran.
  const schema = dead.filter((d) => d.dlq_reason === 'schema');
  expect(schema).toHaveLength(1);
  expect(schema[0]).toMatchObject({ dlq_deliveries: '1', dlq_error: '/amount: must be number (contract of type "order.created" version 1.1)' });
  expect(JSON.parse(schema[0]!.event!)).toMatchObject({ data: { orderId: 'o-101' } });
  expect(events.some((e) => (e.data as { orderId?: string }).orderId === 'o-101')).toBe(false);
  expect(await deadLetters(bare)).toHaveLength(0);
  process.stdout.write(
    `json-field worker: ${events.length} events processed (101 order.created: 100 × 1.1 + 1 × 1.0; 1 order.cancelled via eventType; 50 bare objects via ENVELOPE_FIELD=data); ` +
      `dead letters: ${dead.map((d) => `${d.dlq_reason}: ${d.dlq_error}`).join(' | ')}\n`,
  );
});
