/**
 * issue 18, must-show 4: the producer API fuzzed with fast-check, seeded and bounded (10,000 generated
 * requests: 9,500 with Redis up, 500 with Redis stopped). Headers (content types, charsets, ce-* names
 * and values, Authorization), JSON shapes (valid, mutated and arbitrary events, batches), sizes around
 * the limits and encodings (base64, bytes, text). Properties:
 * - never a 5xx with Redis up; with Redis stopped nothing but 503 among the 5xx and never a 202;
 * - never part of a batch appended: after each request the stream grew by exactly the events answered
 *   as appended (0 for any error);
 * - the stream holds exactly the accepted events (entry ids), nothing else;
 * - memory bounded: the heap retained after a full GC (sampled every 1,000 requests) grows by less than 32 MiB.
 * Real HTTP listener with AUTH_MODE=token in this process, shared Redis with unique streams; a private
 * redis-server for the stopped phase. Seed and request counts are fixed so CI runs the same requests
 * every time. To keep CI fast each generated case is a round of LANES requests sent at once over a
 * keep-alive agent, each lane with its own open stream, so the per-request checks (XLEN before and after,
 * one pipeline per round) stay exact.
 */
import { createHash } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
/** Requests sent at once per generated round, each lane on its own open stream. */
const LANES = 10;
const HEAP_GROWTH_MAX = 32 * 1024 * 1024;
// Heap samples are taken after a full GC, so they measure what is retained (a leak), not when V8
// last collected; `gc` is exposed at run time since jest does not pass --expose-gc.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** A bound on the run, not a timing under test: 10,000 requests on a loaded 2-core machine. */
const RUN_TIMEOUT_MS = 900_000;
const silent = createLogger({ service: 'fuzz-test', level: 'silent' });
const prefix = uniquePrefix('producer-fuzz');
/** The open streams, one per lane; requests generated for the open stream go to their lane's. */
const laneStreams = Array.from({ length: LANES }, (_, i) => `${prefix}:events:${i}`);
/** Placeholder the generator uses for "the open stream" (replaced by the lane's stream when sent). */
const OPEN = '<open>';
const TOKEN = 'fuzz-token';
const dir = mkdtempSync(join(tmpdir(), 'producer-fuzz-'));
const tokens = join(dir, 'tokens');
writeFileSync(tokens, `fuzzer ${createHash('sha256').update(TOKEN).digest('hex')} ${laneStreams.join(',')}\n`);
const agent = new Agent({ keepAlive: true, maxSockets: LANES });

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
const streams = fc.oneof({ weight: 8, arbitrary: fc.constant(OPEN) }, { weight: 1, arbitrary: fc.constantFrom(`${prefix}:closed`, '%2e%2e') });
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

/** Sends `r` (to `stream`) over the keep-alive agent; the status, and the ids of a 202. */
function send(port: number, stream: string, r: FuzzRequest): Promise<{ status: number; ids: string[]; duplicates: number }> {
  const body = Buffer.from(r.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: `/v1/streams/${stream}/events`, method: 'POST', agent, headers: { ...r.headers, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 202) return resolve({ status: res.statusCode ?? 0, ids: [], duplicates: 0 });
        const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ids: string[]; duplicates: number };
        resolve({ status: 202, ids: j.ids, duplicates: j.duplicates });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A round: LANES generated requests, lane i's open stream being laneStreams[i]. */
const round = fc.array(request, { minLength: LANES, maxLength: LANES });
const streamOf = (r: FuzzRequest, lane: number) => (r.stream === OPEN ? laneStreams[lane]! : r.stream);

async function startApp(url: string) {
  const redis = createRedis({ url, role: 'command', maxBackoffMs: 100 });
  await waitFor(() => redis.status === 'ready', 10_000, 20, 'redis ready');
  const authenticator = new TokenFileAuthenticator(tokens, silent);
  const app = new ProducerApp({ redis, registry: createRegistry({ processMetrics: false }), logger: silent, port: 0, host: '127.0.0.1', streams: laneStreams, maxEventBytes: 4096, maxBatchBytes: 32_768, batchMax: 20, maxLen: 0, publishTimeoutMs: 2000, authenticator });
  return { redis, app, port: await app.listen() };
}

afterAll(() => {
  agent.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test(`${RUNS_UP} generated requests with Redis up (seed ${SEED}): no 5xx, batches all-or-nothing, the stream holds exactly the accepted events, heap bounded`, async () => {
  const s = await startApp(SHARED_REDIS_URL);
  const accepted = new Set<string>();
  const statuses = new Map<number, number>();
  const heap: number[] = [];
  let n = 0;
  try {
    const xlens = async () => ((await s.redis.pipeline(laneStreams.map((k) => ['xlen', k])).exec()) ?? []).map(([err, len]) => {
      if (err) throw err;
      return len as number;
    });
    await fc.assert(
      fc.asyncProperty(round, async (rs) => {
        const before = await xlens();
        const answers = await Promise.all(rs.map((r, lane) => send(s.port, streamOf(r, lane), r)));
        const after = await xlens();
        const grew = new Array<number>(LANES).fill(0);
        answers.forEach((a, lane) => {
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          n += 1;
          if (a.status >= 500) throw new Error(`answered ${a.status} with Redis up`);
          // Only a request to its lane's stream may grow it (the others are refused before any append).
          if (streamOf(rs[lane]!, lane) === laneStreams[lane]) grew[lane] = a.ids.length - a.duplicates;
          else if (a.ids.length > 0) throw new Error(`status ${a.status} for stream ${rs[lane]!.stream}: answered ids`);
          for (const id of a.ids) accepted.add(`${laneStreams[lane]} ${id}`);
        });
        if (n % 1000 === 0) {
          gc();
          heap.push(process.memoryUsage().heapUsed);
        }
        // All-or-nothing: each lane's stream grew by exactly the new events of its 202, by nothing otherwise.
        grew.forEach((g, lane) => {
          if (after[lane]! - before[lane]! !== g) throw new Error(`lane ${lane}, status ${answers[lane]!.status}: the stream grew by ${after[lane]! - before[lane]!}, answered ${g} new events`);
        });
      }),
      { seed: SEED, numRuns: RUNS_UP / LANES, endOnFailure: true },
    );
    const inStream = new Set<string>();
    for (const k of laneStreams) for (const [id] of await s.redis.xrange(k, '-', '+')) inStream.add(`${k} ${id}`);
    expect(n).toBe(RUNS_UP);
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
  let sent = 0;
  try {
    await server.stopProcess('SIGKILL');
    await waitFor(async () => (await fetch(`http://127.0.0.1:${s.port}/readyz`)).status === 503, 10_000, 20, 'producer not ready');
    await fc.assert(
      fc.asyncProperty(round, async (rs) => {
        const answers = await Promise.all(rs.map((r, lane) => send(s.port, streamOf(r, lane), r)));
        for (const a of answers) {
          sent += 1;
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (a.status === 202) throw new Error('answered 202 with Redis stopped');
          if (a.status >= 500 && a.status !== 503) throw new Error(`answered ${a.status} with Redis stopped`);
        }
      }),
      { seed: SEED, numRuns: RUNS_DOWN / LANES, endOnFailure: true },
    );
    expect(sent).toBe(RUNS_DOWN);
    expect(statuses.get(503)).toBeGreaterThan(0);
    process.stdout.write(`fuzz (seed ${SEED}, ${RUNS_DOWN} requests, Redis stopped): statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`);
  } finally {
    await s.app.close();
    s.redis.disconnect();
    await server.stop();
  }
}, RUN_TIMEOUT_MS);
