/**
 * issue 18, must-show 1: the official CloudEvents SDK (npm `cloudevents`) as the client. Binary,
 * structured and batch requests are accepted; a worker's handler receives attributes, extensions and
 * data identical to what the SDK sent (JSON, text and bytes); a `data_base64` event round-trips; a
 * handler re-emits events with `sendEvent` in binary and structured mode to an HTTP receiver that reads
 * them back with the SDK, identical again. Real producer listener, real worker (createWorker), shared
 * Redis with a unique stream, a real HTTP receiver. Nothing is mocked.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import { createLogger, createRedis, createRegistry, sendEvent, type StreamEvent } from '@stream-workers/core';
import { createWorker, type Worker } from '../../worker/src';
import { ProducerApp } from '../src/app';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

const silent = createLogger({ service: 'ce-sdk-test', level: 'silent' });
const prefix = uniquePrefix('producer-ce-sdk');
const stream = `${prefix}:events`;
const redis = createRedis({ url: SHARED_REDIS_URL, role: 'command' });
const received = new Map<string, StreamEvent>();
const reemitted: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
let app: ProducerApp;
let base: string;
let worker: Worker;
let receiver: Server;
let receiverUrl: string;

/** The attributes the SDK does not treat as extensions. */
const CORE = new Set(['specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'dataschema', 'subject', 'data', 'data_base64']);
function extensionsOf(ce: CloudEvent<unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(ce.toJSON()).filter(([k, v]) => !CORE.has(k) && v !== undefined));
}

beforeAll(async () => {
  app = new ProducerApp({ redis, registry: createRegistry({ processMetrics: false }), logger: silent, port: 0, host: '127.0.0.1', streams: [stream] });
  base = `http://127.0.0.1:${await app.listen()}/v1/streams/${encodeURIComponent(stream)}/events`;
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      reemitted.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
  worker = await createWorker(
    { redisUrl: SHARED_REDIS_URL, stream, group: 'g', consumer: 'c1', blockMs: 100, logger: silent, registry: createRegistry({ processMetrics: false }) },
    async (event) => {
      received.set(event.id, event);
      // The handler sends some events on, as a user's handler would, with the core helper.
      if (event.type === 'reemit.binary') await sendEvent(receiverUrl, event, { mode: 'binary' });
      if (event.type === 'reemit.structured') await sendEvent(receiverUrl, event, { mode: 'structured' });
    },
  );
});

afterAll(async () => {
  await worker.close();
  await app.close();
  await new Promise<void>((r) => receiver.close(() => r()));
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

async function post(headers: Record<string, string>, body: unknown): Promise<{ status: number; json: { ids?: string[] } }> {
  const res = await fetch(base, { method: 'POST', headers, body: body as string });
  return { status: res.status, json: (await res.json()) as { ids?: string[] } };
}

/** The handler's event for `ce` once it arrived, compared attribute by attribute with what the SDK sent. */
async function expectDelivered(ce: CloudEvent<unknown>): Promise<StreamEvent> {
  const ev = (await waitFor(() => received.get(ce.id), 30_000, 20, `event ${ce.id} handled`)) as StreamEvent;
  expect({ id: ev.id, source: ev.source, type: ev.type, time: ev.time, subject: ev.subject, dataschema: ev.dataschema, specversion: ev.specversion })
    .toEqual({ id: ce.id, source: ce.source, type: ce.type, time: ce.time, subject: ce.subject, dataschema: ce.dataschema, specversion: ce.specversion });
  expect(ev.extensions).toEqual(extensionsOf(ce));
  if (ce.datacontenttype !== undefined) expect(ev.datacontenttype).toBe(ce.datacontenttype);
  if (Buffer.isBuffer(ce.data)) expect(Buffer.compare(ev.data as Buffer, ce.data)).toBe(0);
  else expect(ev.data).toEqual(ce.data);
  return ev;
}

const ext = { extra: 'v1', knativearrivaltime: '2026-01-02T03:04:05.123Z' };

test('binary mode (ce-* headers, JSON body): 202, and the handler gets the same attributes, extensions and data', async () => {
  const ce = new CloudEvent({ id: 'bin-1', source: '/sdk/binary', type: 'order.created', subject: 'o-1', dataschema: 'https://example.com/o.json', datacontenttype: 'application/json', ...ext, data: { total: 12.5, items: ['a', 'b'] } });
  const msg = HTTP.binary(ce);
  const r = await post(msg.headers as Record<string, string>, msg.body);
  expect(r.status).toBe(202);
  await expectDelivered(ce);
});

test('binary mode with bytes and with text: stored losslessly, handed over as a Buffer and as a string', async () => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
  const bin = new CloudEvent({ id: 'bin-bytes', source: '/sdk/binary', type: 'blob', datacontenttype: 'application/octet-stream', data: bytes });
  const text = new CloudEvent({ id: 'bin-text', source: '/sdk/binary', type: 'csv', datacontenttype: 'text/csv', data: 'a,b\n1,"ü"\n' });
  for (const ce of [bin, text] as Array<CloudEvent<unknown>>) {
    const msg = HTTP.binary(ce);
    expect((await post(msg.headers as Record<string, string>, msg.body)).status).toBe(202);
  }
  expect(Buffer.isBuffer((await expectDelivered(bin)).data)).toBe(true);
  expect(typeof (await expectDelivered(text)).data).toBe('string');
});

test('structured mode: extensions of every CloudEvents type (string, integer, boolean) come back with their type', async () => {
  const ce = new CloudEvent({ id: 'str-1', source: '/sdk/structured', type: 'order.paid', datacontenttype: 'application/json', ...ext, attempt: 3, urgent: true, data: { paid: true } });
  const msg = HTTP.structured(ce);
  expect((await post(msg.headers as Record<string, string>, msg.body)).status).toBe(202);
  const ev = await expectDelivered(ce);
  expect(ev.extensions).toEqual({ ...ext, attempt: 3, urgent: true });
});

test('data_base64 round trip: the SDK sends bytes as data_base64 (structured), the handler gets the same bytes', async () => {
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80, 0x7f]);
  const ce = new CloudEvent({ id: 'b64-1', source: '/sdk/structured', type: 'blob', datacontenttype: 'application/octet-stream', data: bytes });
  const msg = HTTP.structured(ce);
  expect(msg.body as string).toContain('"data_base64":"AAEC/v+Afw=="');
  expect((await post(msg.headers as Record<string, string>, msg.body)).status).toBe(202);
  const ev = await expectDelivered(ce);
  expect(Buffer.compare(ev.data as Buffer, bytes)).toBe(0);
});

test('batch (application/cloudevents-batch+json): every event accepted in order and delivered identical', async () => {
  const batch = [1, 2, 3].map((i) => new CloudEvent({ id: `batch-${i}`, source: '/sdk/batch', type: 'tick', datacontenttype: 'application/json', extra: `e${i}`, data: { i } }));
  const r = await post({ 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(batch.map((ce) => ce.toJSON())));
  expect(r.status).toBe(202);
  expect(r.json.ids).toHaveLength(3);
  for (const ce of batch) await expectDelivered(ce);
});

test('a handler re-emits in binary and structured mode (JSON and bytes); the SDK reads back the same event', async () => {
  const sent: Array<CloudEvent<unknown>> = [
    new CloudEvent({ id: 're-1', source: '/sdk/re', type: 'reemit.binary', subject: 's-1', datacontenttype: 'application/json', ...ext, data: { n: [1, 2, { x: null }] } }),
    new CloudEvent({ id: 're-2', source: '/sdk/re', type: 'reemit.structured', datacontenttype: 'application/json', ...ext, attempt: 7, data: { ok: true } }),
    new CloudEvent({ id: 're-3', source: '/sdk/re', type: 'reemit.binary', datacontenttype: 'application/octet-stream', ...ext, data: Buffer.from([9, 0, 255]) }),
    new CloudEvent({ id: 're-4', source: '/sdk/re', type: 'reemit.structured', datacontenttype: 'application/octet-stream', data: Buffer.from([1, 0, 254]) }),
  ];
  // Sent in binary mode, so every extension arrives (and is re-emitted) as a string.
  for (const ce of sent) {
    const msg = HTTP.binary(ce);
    expect((await post(msg.headers as Record<string, string>, msg.body)).status).toBe(202);
  }
  await waitFor(() => reemitted.length >= sent.length || undefined, 30_000, 20, 're-emitted events');
  const back = new Map(reemitted.map((m) => {
    const isJson = /json/.test(String(m.headers['content-type']));
    const e = HTTP.toEvent({ headers: m.headers as Record<string, string>, body: isJson ? m.body.toString('utf8') : m.body }) as CloudEvent<unknown>;
    return [e.id, { e, mode: m.headers['ce-id'] !== undefined ? 'binary' : 'structured' }];
  }));
  for (const ce of sent) {
    const got = back.get(ce.id)!;
    expect(got.mode).toBe(ce.type.slice('reemit.'.length));
    const { correlationid, ...extensions } = extensionsOf(got.e);
    expect(typeof correlationid).toBe('string'); // added by the producer, carried on
    expect({ id: got.e.id, source: got.e.source, type: got.e.type, time: got.e.time, subject: got.e.subject, datacontenttype: got.e.datacontenttype, extensions })
      .toEqual({ id: ce.id, source: ce.source, type: ce.type, time: ce.time, subject: ce.subject, datacontenttype: ce.datacontenttype, extensions: stringified(extensionsOf(ce)) });
    // The SDK hands structured-mode bytes back as a Uint32Array of the byte values (its own quirk).
    const data = got.e.data instanceof Uint32Array ? Buffer.from(Array.from(got.e.data)) : got.e.data;
    if (Buffer.isBuffer(ce.data)) expect(Buffer.compare(Buffer.from(data as Uint8Array), ce.data)).toBe(0);
    else expect(data).toEqual(ce.data);
  }
});

/** Binary mode carries every extension as a header string (the HTTP binding has no other type). */
function stringified(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
}
