/**
 * The embeddable API, in this process against the shared Redis (a unique stream per test):
 * `createWorker` checks its options before anything connects (the rules of the environment
 * variables), the worker's events (`failed`, `deadLettered`, `drained`, `error`) and their payloads,
 * listeners that throw, and close({ force: true }) with the abandoned entry reclaimed elsewhere.
 */
import Redis from 'ioredis';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { createLogger, freePort } from '../../core/src';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';
import { createWorker, workerConfig, type Worker, type WorkerOptions } from '../src';
import { OPTION_SPECS, REQUIRED_OPTIONS, resolveWorkerOptions } from '../src/options';
import type { DeadLetteredEvent, DrainedEvent, FailedEvent, WorkerErrorEvent } from '../src/events';
import type { Handler } from '../src/handler';
import { fill, groupState, waitDrained } from './support';

let redis: Redis;
const prefixes: string[] = [];
const workers: Worker[] = [];
/** Handlers kept waiting by a test; released after each test so nothing keeps running. */
const releases: Array<() => void> = [];

beforeAll(() => {
  redis = new Redis(SHARED_REDIS_URL);
});
afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await Promise.all(workers.splice(0).map((w) => w.close({ force: true })));
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

type Line = Record<string, unknown>;

/** A logger whose lines the test reads back. */
function memoryLogger(): { logger: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const logger = createLogger({ service: 'worker-test', level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Line) } });
  return { logger, lines };
}

function setup(name: string): { stream: string; base: WorkerOptions; lines: Line[] } {
  const prefix = uniquePrefix(`api-${name}`);
  prefixes.push(prefix);
  const stream = `${prefix}:events`;
  const { logger, lines } = memoryLogger();
  return { stream, lines, base: { redisUrl: SHARED_REDIS_URL, stream, group: 'g', consumer: 'a', blockMs: 100, logger, registry: new Registry() } };
}

async function start(options: WorkerOptions, handler: Handler): Promise<Worker> {
  const w = await createWorker(options, handler);
  workers.push(w);
  return w;
}

function deferred(): { promise: Promise<void>; release: () => void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  releases.push(release);
  return { promise, release };
}

/** A handler that starts, then waits for `gate.release()`; `state` tells how far it got. */
function gatedHandler(): { gate: ReturnType<typeof deferred>; state: { started: boolean; finished: boolean }; handler: () => Promise<void> } {
  const gate = deferred();
  const state = { started: false, finished: false };
  const handler = async (): Promise<void> => {
    state.started = true;
    await gate.promise;
    state.finished = true;
  };
  return { gate, state, handler };
}

// ---- options -----------------------------------------------------------------------------------

describe('createWorker checks its options before anything connects', () => {
  // A TCP server standing in for Redis: it counts the connections made to it.
  let server: Server;
  let url: string;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `redis://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  const noop: Handler = () => undefined;
  const valid = (): WorkerOptions => {
    const { logger } = memoryLogger();
    return { redisUrl: url, stream: 's', group: 'g', consumer: 'c', logger, registry: new Registry() };
  };
  const without = (key: keyof WorkerOptions): WorkerOptions => {
    const o = valid() as unknown as Record<string, unknown>;
    delete o[key];
    return o as unknown as WorkerOptions;
  };

  test.each<[string, Record<string, unknown>, ErrorConstructor, RegExp]>([
    ['batchSize 0', { batchSize: 0 }, RangeError, /^createWorker: option batchSize=0 is invalid: expected an integer from 1 to 10000$/],
    ['batchSize negative', { batchSize: -5 }, RangeError, /option batchSize=-5 is invalid: expected an integer from 1 to 10000/],
    ['batchSize non-integer', { batchSize: 1.5 }, RangeError, /option batchSize=1\.5 is invalid/],
    ['batchSize too large', { batchSize: 10_001 }, RangeError, /option batchSize=10001 is invalid: expected an integer from 1 to 10000/],
    ['batchSize NaN', { batchSize: NaN }, RangeError, /option batchSize=NaN is invalid/],
    ['batchSize a string', { batchSize: '10' }, TypeError, /option batchSize="10" is invalid: expected an integer from 1 to 10000, got a string/],
    ['concurrency 0', { concurrency: 0 }, RangeError, /option concurrency=0 is invalid: expected an integer from 1 to 10000/],
    ['concurrency too large', { concurrency: 10_001 }, RangeError, /option concurrency=10001/],
    ['concurrency null', { concurrency: null }, TypeError, /option concurrency=null is invalid: .* got null/],
    ['blockMs below 10', { blockMs: 9 }, RangeError, /option blockMs=9 is invalid: expected an integer from 10 to 60000 \(ms\)/],
    ['blockMs too large', { blockMs: 60_001 }, RangeError, /option blockMs=60001/],
    ['maxDeliveries 0', { maxDeliveries: 0 }, RangeError, /option maxDeliveries=0 is invalid: expected an integer from 1 to 1000/],
    ['maxDeliveries too large', { maxDeliveries: 1001 }, RangeError, /option maxDeliveries=1001/],
    ['claimIdleMs below 100', { claimIdleMs: 99 }, RangeError, /option claimIdleMs=99 is invalid: expected an integer ≥ 100 \(ms\)/],
    ['claimIdleMs Infinity', { claimIdleMs: Infinity }, RangeError, /option claimIdleMs=Infinity/],
    ['claimIdleMs non-integer', { claimIdleMs: 150.5 }, RangeError, /option claimIdleMs=150\.5/],
    ['retryDelayMs negative', { retryDelayMs: -1 }, RangeError, /option retryDelayMs=-1 is invalid: expected an integer ≥ 0 \(ms\)/],
    ['shutdownGraceMs negative', { shutdownGraceMs: -1 }, RangeError, /option shutdownGraceMs=-1 is invalid: expected an integer ≥ 0 \(ms\)/],
    ['shutdownGraceMs a string', { shutdownGraceMs: '1000' }, TypeError, /option shutdownGraceMs="1000"/],
    ['commandTimeoutMs 0', { commandTimeoutMs: 0 }, RangeError, /option commandTimeoutMs=0 is invalid: expected an integer from 100 to 2147483647 \(ms\)/],
    ['stream empty', { stream: '' }, RangeError, /option stream="" is invalid: expected a stream key without spaces/],
    ['stream with a space', { stream: 'my events' }, RangeError, /option stream="my events" is invalid/],
    ['stream a number', { stream: 7 }, TypeError, /option stream=7 is invalid: expected a stream key without spaces, got a number/],
    ['group with blanks around it', { group: ' g ' }, RangeError, /option group=" g " is invalid: expected a group name without spaces/],
    ['consumer empty', { consumer: '' }, RangeError, /option consumer="" is invalid/],
    ['redisUrl not redis://', { redisUrl: 'http://127.0.0.1:6379' }, RangeError, /option redisUrl="http:\/\/127\.0\.0\.1:6379" is invalid: expected a URL redis:\/\//],
    ['redisUrl an object', { redisUrl: {} }, TypeError, /option redisUrl=an object is invalid/],
    ['redis with redisUrl', { redis: { topology: { kind: 'single', host: '127.0.0.1', port: 6379, db: 0 } } }, TypeError, /^createWorker: options redis and redisUrl are both set/],
    ['redis not settings', { redisUrl: undefined, redis: 'redis://h' }, TypeError, /^createWorker: option redis must be Redis settings/],
    ['redis with a bad port', { redisUrl: undefined, redis: { topology: { kind: 'sentinel', sentinels: [{ host: 's', port: 0 }], masterName: 'm' } } }, RangeError, /^createWorker: option redis\.topology\.sentinels\[0\]\.port=0 is invalid: expected an integer from 1 to 65535$/],
    ['redis cluster with a db', { redisUrl: undefined, redis: { topology: { kind: 'cluster', nodes: [{ host: 'n', port: 7000 }], db: 1 } } }, RangeError, /option redis\.topology\.db=1 is invalid: expected no db index/],
    ['groupStartId not an id', { groupStartId: 'first' }, RangeError, /option groupStartId="first" is invalid: expected 0, \$ or a stream id/],
    ['deadLetterStream empty', { deadLetterStream: '' }, RangeError, /option deadLetterStream="" is invalid/],
    ['logger not a Logger', { logger: { info: 1 } }, TypeError, /option logger must be a pino Logger, got an object/],
    ['registry not a Registry', { registry: {} }, TypeError, /option registry must be a prom-client Registry/],
  ])('%s', async (_name, bad, type, message) => {
    // Rejects (does not hang: batchSize 0 used to stall the read loop), with the named error.
    const p = createWorker({ ...valid(), ...bad } as WorkerOptions, noop);
    await expect(p).rejects.toThrow(type);
    await expect(p).rejects.toThrow(message);
  });

  test.each(['redisUrl', 'stream', 'group', 'consumer'] as const)('%s missing: a TypeError naming it', async (key) => {
    const p = createWorker(without(key), noop);
    await expect(p).rejects.toThrow(TypeError);
    await expect(p).rejects.toThrow(new RegExp(`^createWorker: option ${key} is required: expected `));
  });

  test('a registry that already holds the worker\'s metrics: rejected before connecting too', async () => {
    const registry = new Registry();
    new Counter({ name: 'stream_workers_events_processed_total', help: 'taken', registers: [registry] });
    await expect(createWorker({ ...valid(), registry }, noop)).rejects.toThrow(/stream_workers_events_processed_total has already been registered/);
  });

  test('options not an object, handler not a function: TypeErrors', async () => {
    await expect(createWorker(null as unknown as WorkerOptions, noop)).rejects.toThrow(/createWorker: options must be an object, got null/);
    await expect(createWorker(valid(), 'handle' as unknown as Handler)).rejects.toThrow(TypeError);
    await expect(createWorker(valid(), 'handle' as unknown as Handler)).rejects.toThrow(/handler must be a function/);
  });

  test('each option follows its environment variable\'s rule: the same values pass and fail, the same text says what is allowed', () => {
    const numeric = (Object.keys(OPTION_SPECS) as (keyof typeof OPTION_SPECS)[]).filter((k) => OPTION_SPECS[k].type === 'number');
    expect(numeric.sort()).toEqual(['batchSize', 'blockMs', 'claimIdleMs', 'commandTimeoutMs', 'concurrency', 'maxDeliveries', 'retryDelayMs', 'shutdownGraceMs']);
    const specsByVariable = Object.values(workerConfig.specs).map((s) => s.name);
    for (const k of numeric) {
      const spec = OPTION_SPECS[k];
      if (k !== 'commandTimeoutMs') expect(specsByVariable).toContain(spec.name); // the variable's own spec object
      for (const v of [-1, 0, 1, 9, 10, 99, 100, 101, 1000, 1001, 10_000, 10_001, 60_000, 60_001, 2 ** 31 - 1, 2 ** 31]) {
        let envOk = true;
        try {
          spec.parse(String(v), {});
        } catch {
          envOk = false;
        }
        let optionOk = true;
        try {
          resolveWorkerOptions({ ...valid(), [k]: v }, noop);
        } catch (err) {
          optionOk = false;
          expect((err as Error).message).toContain(spec.allowed);
        }
        expect([k, v, optionOk]).toEqual([k, v, envOk]);
      }
    }
    // Defaults are the variables' defaults; deadLetterStream follows the stream as DEAD_LETTER_STREAM does.
    const r = resolveWorkerOptions(valid(), noop);
    const env = workerConfig.parse({ STREAM: 's', GROUP: 'g', CONSUMER: 'c' });
    for (const k of Object.keys(OPTION_SPECS) as (keyof typeof OPTION_SPECS)[]) {
      if (k !== 'commandTimeoutMs' && k !== 'redisUrl' && !REQUIRED_OPTIONS.has(k)) expect([k, r[k]]).toEqual([k, (env as Record<string, unknown>)[k]]);
    }
    expect(r.commandTimeoutMs).toBe(10_000);
  });

  test('none of the rejected options made a connection', async () => {
    // Our own probe connection: once the server has seen it, any connection a worker had started
    // before (its command connection connects at construction) would have been seen too.
    const probe = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await waitFor(() => sockets.length >= 1, 10_000, 10, 'the probe connection accepted');
    probe.destroy();
    expect(sockets).toHaveLength(1);
  });
});

// ---- events ------------------------------------------------------------------------------------

test('failed and deadLettered: a poison event with maxDeliveries 2 fails twice and is dead-lettered; a malformed entry goes at once', async () => {
  const { stream, base } = setup('poison');
  const boom = new Error('poison');
  const w = await start({ ...base, maxDeliveries: 2, retryDelayMs: 0 }, (event) => {
    if (event.type === 'poison') throw boom;
  });
  const failed: FailedEvent[] = [];
  const dead: DeadLetteredEvent[] = [];
  w.on('failed', (e) => void failed.push(e)).on('deadLettered', (e) => void dead.push(e));
  const [okId, poisonId] = await fill(redis, stream, 2, (i) => (i === 1 ? 'poison' : 'test'));
  const malformedEntry = await redis.xadd(stream, '*', 'not', 'an-event');
  await waitFor(() => dead.length >= 2, 30_000, 20, 'two dead letters');
  await waitDrained(redis, stream, 'g');

  expect(failed).toHaveLength(2);
  const entryId = failed[0]!.entryId;
  expect(failed[0]).toEqual({ entryId, eventId: poisonId, type: 'poison', deliveryCount: 1, maxDeliveries: 2, error: boom, willRetry: true, retryInMs: 0 });
  expect(failed[1]).toEqual({ entryId, eventId: poisonId, type: 'poison', deliveryCount: 2, maxDeliveries: 2, error: boom, willRetry: false, retryInMs: undefined });
  expect(failed.some((f) => f.eventId === okId)).toBe(false);
  const byReason = Object.fromEntries(dead.map((d) => [d.reason, d]));
  expect(byReason.max_deliveries).toEqual({ entryId, eventId: poisonId, reason: 'max_deliveries', error: 'poison', deliveries: 2, deadLetterStream: `${stream}:dlq` });
  expect(byReason.malformed).toMatchObject({ entryId: malformedEntry, eventId: undefined, reason: 'malformed', deliveries: 1, deadLetterStream: `${stream}:dlq` });
  expect(await redis.xlen(`${stream}:dlq`)).toBe(2);
});

test('listeners that throw or reject are logged and ignored: processing goes on, later listeners still run', async () => {
  const { stream, base, lines } = setup('listeners');
  const done = new Set<string>();
  const w = await start({ ...base, retryDelayMs: 0 }, (event, ctx) => {
    if (event.type === 'flaky' && ctx.deliveryCount === 1) throw new Error('flaky');
    done.add(event.id);
  });
  const seen: FailedEvent[] = [];
  w.on('failed', () => {
    throw new Error('listener bug');
  });
  w.on('failed', async () => {
    throw new Error('async listener bug');
  });
  w.on('failed', (e) => void seen.push(e));
  w.on('error', () => {
    throw new Error('error listener bug');
  });
  const ids = await fill(redis, stream, 300, (i) => (i % 30 === 0 ? 'flaky' : 'test'));
  await waitFor(() => done.size === 300, 60_000, 20, 'all 300 events handled');
  await waitDrained(redis, stream, 'g');
  expect(ids.every((id) => done.has(id))).toBe(true);
  expect(seen).toHaveLength(10);
  expect(seen.every((e) => e.type === 'flaky' && e.deliveryCount === 1 && e.willRetry)).toBe(true);
  await waitFor(() => lines.filter((l) => l.msg === 'a worker event listener threw; ignored').length >= 20, 10_000, 20, 'both bad listeners logged for each failure');
  const logged = lines.filter((l) => l.msg === 'a worker event listener threw; ignored');
  expect(logged.every((l) => l.event === 'failed')).toBe(true);
  expect(new Set(logged.map((l) => (l.err as { message: string }).message))).toEqual(new Set(['listener bug', 'async listener bug']));
  // A throwing drained listener does not keep close() from resolving.
  w.on('drained', () => {
    throw new Error('drained listener bug');
  });
  await w.close();
  expect(lines.some((l) => l.msg === 'a worker event listener threw; ignored' && l.event === 'drained')).toBe(true);
});

test('error: the group deleted under a worker is reported once (during read, recovered); a worker without an error listener carries on', async () => {
  const { stream, base, lines } = setup('nogroup');
  const done = new Set<string>();
  const handler: Handler = (event) => void done.add(event.id);
  const a = await start(base, handler);
  const quiet = memoryLogger();
  await start({ ...base, consumer: 'b', logger: quiet.logger, registry: new Registry() }, handler); // no listeners at all
  const errors: WorkerErrorEvent[] = [];
  a.on('error', (e) => void errors.push(e));
  await fill(redis, stream, 50);
  await waitDrained(redis, stream, 'g');
  await redis.xgroup('DESTROY', stream, 'g');
  await waitFor(() => errors.length >= 1, 20_000, 20, 'an error event');
  await waitFor(() => quiet.lines.some((l) => l.msg === 'stream or consumer group missing; recreating it'), 20_000, 20, 'b met the missing group');
  expect(errors[0]).toMatchObject({ during: 'read', recovered: true, entryId: undefined });
  expect(errors[0]!.error).toBeInstanceOf(Error);
  expect(errors[0]!.error.message).toMatch(/NOGROUP/);
  expect(lines.some((l) => l.msg === 'stream or consumer group missing; recreating it')).toBe(true);
  // Both carry on once the group is back.
  await waitFor(async () => (await groupState(redis, stream, 'g').catch(() => undefined)) !== undefined, 20_000, 50, 'group recreated');
  const later = await fill(redis, stream, 200);
  await waitDrained(redis, stream, 'g');
  expect(later.every((id) => done.has(id))).toBe(true);
  expect(errors).toHaveLength(1); // once per outage, as the log
});

test('error: Redis unreachable at start is reported to a listener attached right after createWorker (during start)', async () => {
  const port = await freePort(); // nothing listens there
  const { base } = setup('unreachable');
  const w = await start({ ...base, redisUrl: `redis://127.0.0.1:${port}`, commandTimeoutMs: 500 }, () => undefined);
  const errors: WorkerErrorEvent[] = [];
  w.on('error', (e) => void errors.push(e));
  await waitFor(() => errors.length >= 1, 20_000, 20, 'an error event');
  expect(errors[0]).toMatchObject({ during: 'start', recovered: true });
  expect(errors[0]!.error).toBeInstanceOf(Error);
  expect(w.readiness()).toEqual({ ready: false, reason: 'redis unreachable' });
});

test('drained: close() waits for the running handler, acks it, deletes the consumer, then emits drained (idempotent)', async () => {
  const { stream, base } = setup('drain');
  const { gate, state, handler } = gatedHandler();
  const w = await start(base, handler);
  const drained: DrainedEvent[] = [];
  w.on('drained', (e) => void drained.push(e));
  await fill(redis, stream, 1);
  await waitFor(() => state.started, 20_000, 10, 'handler started');
  let closed = false;
  const closing = w.close().then(() => (closed = true));
  expect(w.close()).toBe(w.close()); // one drain
  gate.release();
  await closing;
  expect(closed && state.finished).toBe(true);
  expect(drained).toHaveLength(1);
  expect(drained[0]).toMatchObject({ forced: false, consumerDeleted: true, pending: 0, handedBack: 0, aborted: 0, abandoned: 0 });
  expect(typeof drained[0]!.durationMs).toBe('number');
  expect((await groupState(redis, stream, 'g'))!).toMatchObject({ pending: 0, consumers: [] });
});

test('close({ force: true }) resolves while a handler still runs; the entry stays pending and another worker completes it after claimIdleMs; finished entries were acked; nothing lost', async () => {
  const { stream, base } = setup('force');
  const gate = deferred();
  let slowStarted = false;
  let slowFinished = false;
  let signalAborted = false;
  const doneA = new Set<string>();
  const a = await start({ ...base, claimIdleMs: 200, shutdownGraceMs: 60_000 }, async (event, ctx) => {
    if (event.type === 'slow') {
      slowStarted = true;
      ctx.signal.addEventListener('abort', () => (signalAborted = true));
      await gate.promise; // ignores the signal: an abandoned handler may run on
      slowFinished = true;
      return;
    }
    doneA.add(event.id);
  });
  const drained: DrainedEvent[] = [];
  a.on('drained', (e) => void drained.push(e));
  const ids = await fill(redis, stream, 6, (i) => (i === 5 ? 'slow' : 'test'));
  const slowId = ids[5]!;
  await waitFor(() => slowStarted && doneA.size === 5, 20_000, 10, 'five events done and the slow one running on a');

  await a.close({ force: true });
  expect(slowFinished).toBe(false); // close resolved while the handler still ran
  expect(signalAborted).toBe(true);
  expect(drained).toEqual([expect.objectContaining({ forced: true, abandoned: 1, pending: 1, consumerDeleted: false, handedBack: 0 })]);
  const pending = (await redis.xpending(stream, 'g', '-', '+', 10)) as [string, string, number, number][];
  expect(pending.map(([, owner]) => owner)).toEqual(['a']);

  const doneB = new Map<string, number>();
  await start({ ...base, consumer: 'b', claimIdleMs: 200, registry: new Registry() }, (event, ctx) => void doneB.set(event.id, ctx.deliveryCount));
  await waitFor(() => doneB.has(slowId), 20_000, 20, 'the slow event completed by b');
  await waitDrained(redis, stream, 'g');
  expect(doneB.get(slowId)).toBe(2); // reclaimed (a second delivery), not run twice before
  expect([...doneB.keys()]).toEqual([slowId]); // what a finished was acked, not redelivered
  expect(ids.every((id) => doneA.has(id) || doneB.has(id))).toBe(true);
  expect(await redis.xlen(`${stream}:dlq`)).toBe(0);

  // The abandoned handler finishing later acks nothing and breaks nothing.
  gate.release();
  await waitFor(() => slowFinished, 5000, 10, 'the abandoned handler finished');
  expect((await groupState(redis, stream, 'g'))!.pending).toBe(0);
  expect(a.close({ force: true })).toBe(a.close());
});

test('close({ force: true }) during a close() that waits for a handler cuts the drain short', async () => {
  const { stream, base } = setup('escalate');
  const { state, handler } = gatedHandler(); // never released: the forced close abandons it
  const w = await start({ ...base, claimIdleMs: 200, shutdownGraceMs: 60_000 }, handler);
  const drained: DrainedEvent[] = [];
  w.on('drained', (e) => void drained.push(e));
  await fill(redis, stream, 1);
  await waitFor(() => state.started, 20_000, 10, 'handler started');
  const draining = w.close();
  await waitFor(() => w.readiness().ready === false, 5000, 10, 'draining');
  const forced = w.close({ force: true });
  expect(forced).toBe(draining);
  await forced;
  expect(state.finished).toBe(false);
  expect(drained).toEqual([expect.objectContaining({ forced: true, abandoned: 1 })]);
  await expect(w.close({ force: 'yes' } as unknown as { force: boolean })).rejects.toThrow(TypeError);
});
