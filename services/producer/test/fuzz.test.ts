/**
 * issue 18, must-show 4: the producer API fuzzed with fast-check, seeded and bounded (10,000 generated
 * requests: 9,500 with Redis up, 500 with Redis stopped). Headers (content types, charsets, ce-* names
 * and values, Authorization), JSON shapes (valid, mutated and arbitrary events, batches), sizes around
 * the limits and encodings (base64, bytes, text). Properties:
 * - never a 5xx with Redis up; with Redis stopped nothing but 503 among the 5xx and never a 202;
 * - never part of a batch appended: after each request the stream grew by exactly the events answered
 *   as appended (0 for any error);
 * - the stream holds exactly the accepted events (entry ids), nothing else;
 * - memory bounded: heap growth over the run stays under a fixed bound.
 * Real HTTP listener with AUTH_MODE=token, shared Redis with a unique stream; a private redis-server for
 * the stopped phase. Seed and run counts are fixed so CI runs the same requests every time.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLogger, createRedis, createRegistry } from '@stream-workers/core';
import { ProducerApp } from '../src/app';
import { TokenFileAuthenticator } from '../src/auth';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

const SEED = 18;
const RUNS_UP = 9_500;
const RUNS_DOWN = 500;
const HEAP_GROWTH_MAX = 128 * 1024 * 1024;
/** A bound on the run, not a timing under test: 10,000 requests on a loaded 2-core machine. */
const RUN_TIMEOUT_MS = 900_000;
const silent = createLogger({ service: 'fuzz-test', level: 'silent' });
const prefix = uniquePrefix('producer-fuzz');
const stream = `${prefix}:events`;
const TOKEN = 'fuzz-token';
const dir = mkdtempSync(join(tmpdir(), 'producer-fuzz-'));
const tokens = join(dir, 'tokens');
writeFileSync(tokens, `fuzzer ${createHash('sha256').update(TOKEN).digest('hex')} ${stream}\n`);

interface FuzzRequest {
  stream: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

const attrNames = fc.oneof(
  fc.constantFrom('id', 'source', 'type', 'time', 'datacontenttype', 'subject', 'dataschema', 'schemaversion', 'specversion', 'data', 'data_base64', 'correlationid', 'traceparent', 'extra', 'knativearrivaltime', 'Colour', 'my_ext', 'x'.repeat(70)),
  fc.string({ maxLength: 8 }),
);
const oddValues = fc.constantFrom('2026-01-02T03:04:05Z', '2026-02-30T00:00:00Z', '1.0', '0.3', 'AAAA', 'A!', 'text/csv', 'application/vnd.x+json', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '', 'a b', '\u0001');
const attrValues = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 }), oddValues, fc.string({ minLength: 3_000, maxLength: 5_000 }));
const validEvent = fc.record(
  {
    source: fc.constantFrom('s', '/fuzz/a'),
    type: fc.constantFrom('t', 'fuzz.event'),
    id: fc.stringMatching(/^[a-z0-9]{1,6}$/),
    data: fc.jsonValue({ maxDepth: 3 }),
    extra: fc.stringMatching(/^[a-z]{0,5}$/),
  },
  { requiredKeys: ['source', 'type'] },
);
const mutated = fc.tuple(validEvent, fc.dictionary(attrNames, attrValues, { maxKeys: 3 })).map(([e, more]) => ({ ...e, ...more }));
const anyEvent = fc.oneof({ weight: 3, arbitrary: validEvent }, { weight: 3, arbitrary: mutated }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
const contentTypes = fc.constantFrom('application/json', 'application/cloudevents+json', 'application/cloudevents+json; charset="UTF-8"', 'application/json; charset=latin1', 'application/cloudevents-batch+json', 'text/plain', 'application/octet-stream', '', 'multipart/form-data', 'application/JSON');
const auth = fc.oneof({ weight: 8, arbitrary: fc.constant<string | undefined>(`Bearer ${TOKEN}`) }, { weight: 1, arbitrary: fc.constantFrom<string | undefined>('Bearer nope', 'Basic Zm9vOmJhcg==', 'Bearer', undefined) });
const streams = fc.oneof({ weight: 8, arbitrary: fc.constant(stream) }, { weight: 1, arbitrary: fc.constantFrom(`${prefix}:closed`, '%2e%2e') });
const headerValue = fc.stringMatching(/^[\x21-\x7e]{0,40}$/);

/** A structured or batch request: JSON bodies (events, arrays of events), or text and bytes. */
const structured = fc.record({
  stream: streams,
  type: contentTypes,
  auth,
  body: fc.oneof(
    { weight: 4, arbitrary: anyEvent.map((e) => JSON.stringify(e)) },
    { weight: 3, arbitrary: fc.array(anyEvent, { maxLength: 25 }).map((a) => JSON.stringify(a)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 10_000 }) },
  ),
}).map(({ stream: s, type, auth: a, body }): FuzzRequest => ({ stream: s, headers: { ...(type ? { 'content-type': type } : {}), ...(a ? { authorization: a } : {}) }, body }));

/** A binary-mode request: ce-* headers (names valid or not, values percent-encoded or not), any body. */
const binary = fc.record({
  stream: streams,
  type: fc.oneof(contentTypes, fc.constantFrom('image/png', 'text/csv; charset=utf-8', 'application/vnd.acme+json')),
  auth,
  base: fc.record({ 'ce-specversion': fc.constantFrom('1.0', '1.0', '0.3'), 'ce-source': fc.constantFrom('s', '/b'), 'ce-type': fc.constantFrom('t', 'b.t'), 'ce-id': fc.stringMatching(/^[a-z0-9]{1,6}$/) }, { requiredKeys: ['ce-specversion'] }),
  more: fc.dictionary(fc.oneof(fc.stringMatching(/^ce-[a-z0-9]{1,8}$/), fc.constantFrom('ce-data', 'ce-datacontenttype', 'ce-my_ext', 'ce-Upper', 'ce-time', 'ce-traceparent')), fc.oneof(headerValue, fc.constantFrom('%E2%82%AC', '%ZZ', '%')), { maxKeys: 3 }),
  body: fc.oneof(fc.uint8Array({ maxLength: 6_000 }), fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 100 })),
}).map(({ stream: s, type, auth: a, base, more, body }): FuzzRequest => ({ stream: s, headers: { ...base, ...more, ...(type ? { 'content-type': type } : {}), ...(a ? { authorization: a } : {}) }, body }));

const request = fc.oneof({ weight: 3, arbitrary: structured }, { weight: 2, arbitrary: binary });

async function send(base: string, r: FuzzRequest): Promise<{ status: number; ids: string[]; duplicates: number }> {
  const res = await fetch(`${base}/v1/streams/${r.stream}/events`, { method: 'POST', headers: r.headers, body: r.body });
  const text = await res.text();
  if (res.status === 202) {
    const j = JSON.parse(text) as { ids: string[]; duplicates: number };
    return { status: 202, ids: j.ids, duplicates: j.duplicates };
  }
  return { status: res.status, ids: [], duplicates: 0 };
}

async function startApp(url: string) {
  const redis = createRedis({ url, role: 'command', maxBackoffMs: 100 });
  await waitFor(() => redis.status === 'ready', 10_000, 20, 'redis ready');
  const authenticator = new TokenFileAuthenticator(tokens, silent);
  const app = new ProducerApp({ redis, registry: createRegistry({ processMetrics: false }), logger: silent, port: 0, host: '127.0.0.1', streams: [stream], maxEventBytes: 4096, maxBatchBytes: 32_768, batchMax: 20, maxLen: 0, publishTimeoutMs: 2000, authenticator });
  return { redis, app, base: `http://127.0.0.1:${await app.listen()}` };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test(`${RUNS_UP} generated requests with Redis up (seed ${SEED}): no 5xx, batches all-or-nothing, the stream holds exactly the accepted events, heap bounded`, async () => {
  const s = await startApp(SHARED_REDIS_URL);
  const accepted = new Set<string>();
  const statuses = new Map<number, number>();
  const heap: number[] = [];
  let n = 0;
  try {
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = await s.redis.xlen(stream);
        const a = await send(s.base, r);
        const after = await s.redis.xlen(stream);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (++n % 1000 === 0) heap.push(process.memoryUsage().heapUsed);
        if (a.status >= 500) throw new Error(`answered ${a.status} with Redis up`);
        // All-or-nothing: the stream grew by exactly the new events of a 202, by nothing otherwise.
        if (after - before !== a.ids.length - a.duplicates) throw new Error(`status ${a.status}: the stream grew by ${after - before}, answered ${a.ids.length - a.duplicates} new events`);
        for (const id of a.ids) accepted.add(id);
      }),
      { seed: SEED, numRuns: RUNS_UP, endOnFailure: true },
    );
    const inStream = new Set((await s.redis.xrange(stream, '-', '+')).map(([id]) => id));
    expect(inStream).toEqual(accepted);
    expect(Math.max(...heap) - heap[0]!).toBeLessThan(HEAP_GROWTH_MAX);
    // The generator reaches every kind of answer (a fuzzer that only hits 400 would prove little).
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([202, 400, 401, 404, 413, 415]));
    process.stdout.write(`fuzz (seed ${SEED}, ${n} requests, Redis up): statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}, ${accepted.size} events in the stream, heap ${heap.map((h) => Math.round(h / 1048576)).join(' → ')} MiB\n`);
  } finally {
    await s.app.close();
    await deleteKeys(s.redis, prefix);
    s.redis.disconnect();
  }
}, RUN_TIMEOUT_MS);

test(`${RUNS_DOWN} generated requests with Redis stopped (seed ${SEED}): the only 5xx is 503, nothing is accepted`, async () => {
  const server = await PrivateRedis.start();
  const s = await startApp(server.url);
  const statuses = new Map<number, number>();
  try {
    await server.stopProcess('SIGKILL');
    await waitFor(async () => (await fetch(`${s.base}/readyz`)).status === 503, 10_000, 20, 'producer not ready');
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const a = await send(s.base, r);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (a.status === 202) throw new Error('answered 202 with Redis stopped');
        if (a.status >= 500 && a.status !== 503) throw new Error(`answered ${a.status} with Redis stopped`);
      }),
      { seed: SEED, numRuns: RUNS_DOWN, endOnFailure: true },
    );
    expect(statuses.get(503)).toBeGreaterThan(0);
    process.stdout.write(`fuzz (seed ${SEED}, ${RUNS_DOWN} requests, Redis stopped): statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`);
  } finally {
    await s.app.close();
    s.redis.disconnect();
    await server.stop();
  }
}, RUN_TIMEOUT_MS);
