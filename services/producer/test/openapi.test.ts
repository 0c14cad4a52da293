/**
 * The OpenAPI document (services/producer/src/openapi.json, served at GET /openapi.json) is kept true
 * to the API: the served document is the file in the repository; its schemas compile (JSON Schema
 * 2020-12, strict); every documented path answers; every response the real API gives — each status,
 * from 202 to 503 with Redis stopped — is documented with its media type, its headers and a schema the
 * body meets; and the request schema accepts and rejects the same probe events the API does.
 * Real HTTP listener, shared Redis with a unique stream, and a private redis-server that is stopped.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { EVENT_SCHEMA, createLogger, createRedis, createRegistry } from '@stream-workers/core';
import { ProducerApp, type ProducerAppOptions } from '../src/app';
import { TokenFileAuthenticator } from '../src/auth';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

type Json = Record<string, unknown>;
interface Operation {
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<string, { content?: Record<string, { schema?: Json }>; headers?: Record<string, Json> }>;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Json>; headers?: Record<string, Json> };
}

const FILE = join(__dirname, '..', 'src', 'openapi.json');
const doc = JSON.parse(readFileSync(FILE, 'utf8')) as OpenApi;
const EVENTS_PATH = '/v1/streams/{stream}/events';
const post = doc.paths[EVENTS_PATH]!.post!;

/** A validator for a schema of the document, its `#/components/schemas/…` references resolved. */
// The Event schema is a document of its own (GET /schemas/event.json, relative to /openapi.json), as
// a client resolves it: by its URL, here the schema's $id. strictRequired and x-message: as the producer.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, validateFormats: false });
ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
ajv.addSchema(EVENT_SCHEMA as Json);
const resolve = (text: string) => text.replaceAll('#/components/schemas/', '#/$defs/').replaceAll('"schemas/event.json"', JSON.stringify(EVENT_SCHEMA.$id));
const defs = JSON.parse(resolve(JSON.stringify(doc.components.schemas))) as Record<string, Json>;
function validator(schema: Json): ValidateFunction {
  const s = JSON.parse(resolve(JSON.stringify(schema))) as Json;
  return ajv.compile({ ...s, $defs: defs });
}
/** A header object of the document, `$ref`s to components/headers resolved. */
function header(h: Json): Json {
  const ref = h.$ref as string | undefined;
  return ref ? doc.components.headers![ref.replace('#/components/headers/', '')]! : h;
}

const silent = createLogger({ service: 'openapi-test', level: 'silent' });

async function start(url: string, streams: string[], extra: Partial<ProducerAppOptions> = {}) {
  const redis = createRedis({ url, role: 'command', maxBackoffMs: 100 });
  await new Promise<void>((resolve) => (redis.status === 'ready' ? resolve() : redis.once('ready', () => resolve())));
  const app = new ProducerApp({ redis, registry: createRegistry({ processMetrics: false }), logger: silent, port: 0, host: '127.0.0.1', streams, maxEventBytes: 2048, batchMax: 10, maxBatchBytes: 8192, publishTimeoutMs: 500, ...extra });
  const port = await app.listen();
  return { app, redis, base: `http://127.0.0.1:${port}` };
}

interface Answer {
  what: string;
  status: number;
  contentType: string;
  headers: Headers;
  body: unknown;
}

async function send(base: string, what: string, stream: string, body: string, type: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}/v1/streams/${encodeURIComponent(stream)}/events`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
  const text = await res.text();
  return { what, status: res.status, contentType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(), headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** What the document says about this answer, as a list of problems (empty = documented and conforming). */
function problemsOf(a: Answer): string[] {
  const out: string[] = [];
  const r = post.responses[String(a.status)];
  if (!r) return [`${a.what}: status ${a.status} is not documented`];
  const media = r.content?.[a.contentType];
  if (!media) out.push(`${a.what}: ${a.status} with content type ${a.contentType} is not documented (documented: ${Object.keys(r.content ?? {}).join(', ')})`);
  else if (media.schema) {
    const v = validator(media.schema);
    if (!v(a.body)) out.push(`${a.what}: body does not meet the ${a.status} schema: ${ajv.errorsText(v.errors)}`);
  }
  for (const name of ['x-correlation-id', 'retry-after', 'www-authenticate']) {
    const value = a.headers.get(name);
    if (value === null) continue;
    const declared = Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === name);
    if (!declared) {
      out.push(`${a.what}: header ${name} is sent with ${a.status} but not documented`);
      continue;
    }
    const schema = header(declared[1]).schema as Json;
    const v = validator(schema);
    const typed = schema.type === 'integer' ? Number(value) : value;
    if (!v(typed)) out.push(`${a.what}: header ${name}=${value} does not meet its schema`);
  }
  return out;
}

describe('the OpenAPI document is the API (real listener)', () => {
  const prefix = uniquePrefix('producer-openapi');
  const stream = `${prefix}:events`;
  let s: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    s = await start(SHARED_REDIS_URL, [stream]);
  });
  afterAll(async () => {
    await deleteKeys(s.redis, prefix);
    await s.app.close();
    s.redis.disconnect();
  });

  test('GET /openapi.json serves the document kept in the repository, and every documented path answers as documented', async () => {
    const res = await fetch(`${s.base}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(doc);
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path === EVENTS_PATH) continue; // below, status by status
        const r = await fetch(`${s.base}${path}`, { method: method.toUpperCase() });
        expect({ path, method, status: r.status, documented: Object.keys(op.responses).includes(String(r.status)) }).toEqual({ path, method, status: r.status, documented: true });
      }
    }
  });

  test('every schema of the document compiles under JSON Schema 2020-12 in strict mode', () => {
    for (const [name, schema] of Object.entries(doc.components.schemas)) expect({ name, ok: typeof validator(schema) }).toEqual({ name, ok: 'function' });
    for (const [type, media] of Object.entries(post.requestBody!.content)) expect({ type, ok: typeof validator(media.schema) }).toEqual({ type, ok: 'function' });
  });

  test('each answer of the API (202, 400, 404, 413, 415) is documented: status, media type, headers, body schema', async () => {
    const ev = (extra: Json = {}) => JSON.stringify({ source: 'openapi-test', type: 't', data: { n: 1 }, ...extra });
    const answers = [
      await send(s.base, '202 one event (cloudevents+json)', stream, ev(), 'application/cloudevents+json'),
      await send(s.base, '202 one event (json)', stream, ev({ id: 'dup-1' }), 'application/json'),
      await send(s.base, '202 a resent event (duplicate)', stream, ev({ id: 'dup-1' }), 'application/json'),
      await send(s.base, '202 a batch', stream, JSON.stringify([JSON.parse(ev()), JSON.parse(ev())]), 'application/cloudevents-batch+json'),
      await send(s.base, '400 invalid attribute', stream, ev({ time: 'yesterday' }), 'application/cloudevents+json'),
      await send(s.base, '400 invalid JSON', stream, '{"source":', 'application/json'),
      await send(s.base, '400 invalid event in a batch', stream, JSON.stringify([JSON.parse(ev()), { source: 's' }]), 'application/cloudevents-batch+json'),
      await send(s.base, '404 stream not open', `${prefix}:closed`, ev(), 'application/json'),
      await send(s.base, '413 body too large', stream, ev({ data: 'x'.repeat(3000) }), 'application/json'),
      await send(s.base, '413 too many events', stream, JSON.stringify(Array.from({ length: 11 }, () => JSON.parse(ev()))), 'application/cloudevents-batch+json'),
      await send(s.base, '415 other content type', stream, 'x', 'text/plain'),
    ];
    expect(answers.map((a) => `${a.what}: ${a.status}`)).toEqual(answers.map((a) => `${a.what}: ${a.what.slice(0, 3)}`));
    expect(answers.flatMap(problemsOf)).toEqual([]);
    // Every documented status of the operation is met by some answer here or in the 503 test below.
    expect(Object.keys(post.responses).sort()).toEqual(['202', '400', '401', '403', '404', '413', '415', '429', '503']);
  });

  test('the request schema and the API agree on what an event is (probe events accepted or rejected by both)', async () => {
    const single = validator(post.requestBody!.content['application/cloudevents+json']!.schema);
    const batch = validator(post.requestBody!.content['application/cloudevents-batch+json']!.schema);
    const ok = { source: 'probe', type: 't', data: null };
    const accepted: Json[] = [
      ok,
      { specversion: '1.0', id: 'evt-1', source: '/orders', type: 'order.created', time: '2026-01-02T03:04:05.678Z', datacontenttype: 'application/json', dataschema: 'https://example.com/order.json', schemaversion: '2', subject: 'o-1', correlationid: 'corr-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', data: { total: 1 } },
      { ...ok, datacontenttype: 'application/vnd.acme+json', time: '2026-01-02T03:04:05+02:00' },
      { source: 's', type: 'no data (CloudEvents: data is optional)' },
      { ...ok, colour: 'red', knativearrivaltime: '2026-01-02T03:04:05Z', n: 3, flag: true },
      { source: 's', type: 'bytes', datacontenttype: 'image/png', data_base64: 'iVBORw0KGgo=' },
      { source: 's', type: 'text', datacontenttype: 'text/csv; charset=utf-8', data: 'a,b\n1,2' },
    ];
    const rejected: Array<[string, Json]> = [
      ['no source', { type: 't', data: 1 }],
      ['no type', { source: 's', data: 1 }],
      ['an attribute that is no extension name (upper case)', { ...ok, Colour: 'red' }],
      ['an attribute that is no extension name (underscore)', { ...ok, my_colour: 'red' }],
      ['an extension that is an object', { ...ok, colour: { r: 1 } }],
      ['data and data_base64 together', { ...ok, data_base64: 'AAAA' }],
      ['data_base64 that is not base64', { source: 's', type: 't', data_base64: 'A!' }],
      ['specversion 0.3', { ...ok, specversion: '0.3' }],
      ['an id with a space', { ...ok, id: 'a b' }],
      ['a source with a space', { ...ok, source: 'a b' }],
      ['a control character in type', { ...ok, type: 'a\u0001b' }],
      ['a time that is not RFC 3339', { ...ok, time: 'yesterday' }],
      ['a non-JSON datacontenttype with data that is not text', { ...ok, datacontenttype: 'text/plain' }],
      ['a correlationid with a space', { ...ok, correlationid: 'a b' }],
      ['a malformed traceparent', { ...ok, traceparent: 'nope' }],
    ];
    for (const e of accepted) {
      expect({ e, schema: single(e) }).toEqual({ e, schema: true });
      const a = await send(s.base, 'probe', stream, JSON.stringify(e), 'application/cloudevents+json');
      expect({ e, status: a.status }).toEqual({ e, status: 202 });
    }
    for (const [what, e] of rejected) {
      expect({ what, schema: single(e) }).toEqual({ what, schema: false });
      const a = await send(s.base, what, stream, JSON.stringify(e), 'application/cloudevents+json');
      expect({ what, status: a.status }).toEqual({ what, status: 400 });
      expect(problemsOf(a)).toEqual([]);
    }
    expect(batch([])).toBe(false);
    expect((await send(s.base, 'empty batch', stream, '[]', 'application/cloudevents-batch+json')).status).toBe(400);
    expect(batch(Array.from({ length: 1001 }, () => ok))).toBe(false); // maxItems = the BATCH_MAX default
  });
});

describe('the OpenAPI document with AUTH_MODE=token and a rate limit (real listener)', () => {
  test('401 (none, wrong), 403, 429 and a binary-mode 202 are documented: status, media type, WWW-Authenticate / Retry-After, body schema', async () => {
    const prefix = uniquePrefix('producer-openapi-auth');
    const dir = mkdtempSync(join(tmpdir(), 'openapi-auth-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, `writer ${createHash('sha256').update('secret-1').digest('hex')} ${prefix}:a\n`);
    const auth = new TokenFileAuthenticator(file, silent);
    const s = await start(SHARED_REDIS_URL, [`${prefix}:a`, `${prefix}:b`], { authenticator: auth, rateLimitPerS: 1 });
    try {
      const ev = JSON.stringify({ source: 'openapi-test', type: 't', data: 1 });
      const bearer = { authorization: 'Bearer secret-1' };
      const answers = [
        await send(s.base, '401 no token', `${prefix}:a`, ev, 'application/json'),
        await send(s.base, '401 wrong token', `${prefix}:a`, ev, 'application/json', { authorization: 'Bearer nope' }),
        await send(s.base, '403 stream not in the client\'s list', `${prefix}:b`, ev, 'application/json', bearer),
        await send(s.base, '202 binary mode', `${prefix}:a`, 'hello', 'text/plain', { ...bearer, 'ce-specversion': '1.0', 'ce-id': 'b-1', 'ce-source': 's', 'ce-type': 't' }),
        await send(s.base, '429 past the rate', `${prefix}:a`, ev, 'application/json', bearer),
      ];
      expect(answers.map((a) => `${a.what}: ${a.status}`)).toEqual(answers.map((a) => `${a.what}: ${a.what.slice(0, 3)}`));
      expect(answers.flatMap(problemsOf)).toEqual([]);
      expect(answers[0]!.headers.get('www-authenticate')).toBe('Bearer realm="stream-workers"');
      expect(answers[1]!.headers.get('www-authenticate')).toBe('Bearer realm="stream-workers", error="invalid_token"');
    } finally {
      await s.app.close();
      await deleteKeys(s.redis, prefix);
      s.redis.disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('GET /schemas/event.json serves the one event schema the document refers to', async () => {
    const s = await start(SHARED_REDIS_URL, ['events']);
    try {
      expect((doc.components.schemas.Event as Json).$ref).toBe('schemas/event.json');
      const res = await fetch(new URL((doc.components.schemas.Event as Json).$ref as string, `${s.base}/openapi.json`));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(EVENT_SCHEMA);
    } finally {
      await s.app.close();
      s.redis.disconnect();
    }
  });
});

describe('the OpenAPI document with Redis stopped (private redis-server)', () => {
  test('503 is documented with Retry-After and X-Correlation-Id, and its body meets the Problem schema', async () => {
    const server = await PrivateRedis.start();
    const s = await start(server.url, ['events']);
    try {
      await server.stopProcess('SIGKILL');
      // Polled until Redis' death is seen (a fixed count of attempts would be a timing).
      const a = (await waitFor(async () => {
        const r = await send(s.base, '503 Redis stopped', 'events', JSON.stringify({ source: 's', type: 't', data: 1 }), 'application/json');
        return r.status === 503 ? r : undefined;
      }, 30_000, 50, '503 with Redis stopped'))!; // waitFor returns only a truthy value
      expect(a.status).toBe(503);
      expect(a.headers.get('retry-after')).toBe('1');
      expect(problemsOf(a)).toEqual([]);
    } finally {
      await s.app.close();
      s.redis.disconnect();
      await server.stop();
    }
  });
});
