/**
 * Must show 4 (issue 15): the dead-letter CLI (`stream-workers dlq …`, the real binary as a child
 * process) against real Redis: list, show, replay, purge; two replays of the same 1,000 dead letters
 * running at once put each into the origin stream exactly once; --dry-run changes nothing; a bad flag
 * or an unknown stream exits non-zero with a message.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { createGroup, fieldsToObject, moveToDeadLetter, parseEntry, type DeadLetterReason } from '../../core/src';
import { PrivateRedis, SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';
import { fill } from './support';

const CLI = join(__dirname, '..', 'dist', 'cli', 'main.js');
const prefix = uniquePrefix('dlqcli');
const stream = `${prefix}:orders`;
const dlq = `${stream}:dlq`;
const shared = new Redis(SHARED_REDIS_URL);
const redis = shared;

interface Run { code: number | null; stdout: string; stderr: string }
function cli(...args: string[]): Promise<Run> {
  return cliOn(SHARED_REDIS_URL, ...args);
}
function cliOn(redisUrl: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', REDIS_URL: redisUrl }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
const json = <T>(r: Run): T => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
};

/** Appends `n` events of `type`, reads them through a group and dead-letters them the way the worker does. */
async function deadLetter(n: number, type: string, reason: DeadLetterReason, redis = shared): Promise<string[]> {
  const ids = await fill(redis, stream, n, () => type);
  await createGroup(redis, stream, 'g', '0');
  const read = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', n, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  const entries = read[0]![1].map(([entryId, fields]) => ({ entryId, fields, reason, error: `${reason} in test`, deliveries: 5, consumer: 'c' }));
  for (let i = 0; i < entries.length; i += 200) await moveToDeadLetter(redis, stream, 'g', dlq, entries.slice(i, i + 200));
  return ids;
}
async function snapshot(): Promise<unknown> {
  return [await redis.xrange(stream, '-', '+'), await redis.xrange(dlq, '-', '+')];
}

let eventIds: string[];
beforeAll(async () => {
  eventIds = await deadLetter(1000, 'order.created', 'max_deliveries');
  await deadLetter(3, 'order.weird', 'malformed');
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

interface Listed { id: string; reason: string; type: string; eventId: string; correlationId: string; deliveries: number; originId: string; data: unknown }
interface Summary { dryRun: boolean; matched: number; replayed?: number; purged?: number; skipped: number; entries: { id: string; result: string | null }[] }

test('ls: a table of at most 100 by default; --json, --limit, --type, --reason, --since filter', async () => {
  const text = await cli('dlq', 'ls', '--stream', stream);
  expect(text.code).toBe(0);
  const lines = text.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^ID +REASON +TYPE +EVENT ID/);
  expect(lines).toHaveLength(101);
  expect(lines[1]).toContain('max_deliveries');
  expect(json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--limit', '5'))).toHaveLength(5);
  const weird = json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--type', 'order.weird'));
  expect(weird.map((d) => d.reason)).toEqual(['malformed', 'malformed', 'malformed']);
  expect(json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--reason', 'malformed'))).toEqual(weird);
  expect(json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--since', '1h', '--limit', '5000'))).toHaveLength(1003);
  expect(json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--since', new Date(Date.now() + 3_600_000).toISOString()))).toHaveLength(0);
});

test('show: one dead letter in full; an id not there exits 4', async () => {
  const [first] = json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--limit', '1'));
  const text = await cli('dlq', 'show', first!.id, '--stream', stream);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`dead letter   ${first!.id}`);
  expect(text.stdout).toContain('reason        max_deliveries');
  expect(text.stdout).toContain(`event id      ${eventIds[0]}`);
  expect(json<Listed>(await cli('dlq', 'show', first!.id, '-s', stream, '--json'))).toMatchObject({ id: first!.id, type: 'order.created', eventId: eventIds[0], data: { i: 0 }, deliveries: 5 });
  const missing = await cli('dlq', 'show', '1-1', '-s', stream);
  expect(missing.code).toBe(4);
  expect(missing.stderr).toContain(`dead letter 1-1 is not in ${dlq}`);
});

test('replay --dry-run and purge --dry-run change nothing', async () => {
  const before = await snapshot();
  const r = json<Summary>(await cli('dlq', 'replay', '-s', stream, '--dry-run', '--json'));
  expect(r).toMatchObject({ dryRun: true, matched: 1003, replayed: 0 });
  const p = await cli('dlq', 'purge', '-s', stream, '--all', '--dry-run');
  expect(p.code).toBe(0);
  expect(p.stdout).toContain('dry run: would have purged 1003 dead letter(s)');
  expect(await snapshot()).toEqual(before);
});

/** The CLI connections whose replay script waits on the paused server (CLIENT LIST: flags b, cmd eval/evalsha). */
async function replaysWaiting(r: Redis): Promise<number> {
  const list = String(await r.call('CLIENT', 'LIST'));
  return list.split('\n').filter((l) => l.includes(' name=stream-workers-cli ') && / flags=\S*b/.test(l) && / cmd=eval(sha)? /.test(l)).length;
}

test('two replays of the same 1,000 dead letters at once: each in the origin stream exactly once, same event and correlation ids', async () => {
  // A private server: writes are paused (CLIENT PAUSE WRITE) until both CLIs have their replay scripts
  // queued on the same dead letters, so the two really race for each of them.
  const server = await PrivateRedis.start();
  const r = new Redis(server.url);
  try {
    const ids = await deadLetter(1000, 'order.created', 'max_deliveries', r);
    const originalCorrelation = new Map(((await r.xrange(dlq, '-', '+')) as [string, string[]][]).map(([, f]) => fieldsToObject(f)).map((o) => [o.id!, o.correlationid!]));
    const before = await r.xlen(stream);
    await r.call('CLIENT', 'PAUSE', '120000', 'WRITE');
    const runs = [1, 2].map(() => cliOn(server.url, 'dlq', 'replay', '--stream', stream, '--json'));
    await waitFor(async () => (await replaysWaiting(r)) === 2, 60_000, 50, 'both replays waiting on the paused server');
    await r.call('CLIENT', 'UNPAUSE');
    const [a, b] = await Promise.all(runs);
    const ra = json<Summary>(a!);
    const rb = json<Summary>(b!);
    expect(ra.replayed! + rb.replayed!).toBe(1000);
    // Both attempted the first page (500) of the same dead letters: every one was replayed by one and skipped by the other.
    expect(ra.skipped + rb.skipped).toBeGreaterThanOrEqual(500);
    const byA = new Set(ra.entries.filter((e) => e.result !== null).map((e) => e.id));
    expect(rb.entries.filter((e) => e.result !== null && byA.has(e.id))).toEqual([]);
    const added = ((await r.xrange(stream, '-', '+')) as [string, string[]][]).slice(before);
    expect(added).toHaveLength(1000);
    const events = added.map(([, f]) => fieldsToObject(f));
    expect(new Set(events.map((e) => e.replayed_from)).size).toBe(1000);
    expect(events.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect(events.every((e) => e.correlationid === originalCorrelation.get(e.id!))).toBe(true);
    expect(events.every((e) => !Object.keys(e).some((k) => k.startsWith('dlq_')))).toBe(true);
    expect(added.every(([, f]) => parseEntry(f).ok)).toBe(true);
    expect(await r.xlen(dlq)).toBe(0);
    process.stdout.write(
      `concurrent replays of 1000 dead letters: A replayed ${ra.replayed}, skipped ${ra.skipped}; B replayed ${rb.replayed}, skipped ${rb.skipped}; ` +
        `origin stream +${added.length} entries, ${new Set(events.map((e) => e.replayed_from)).size} distinct replayed_from, ${new Set(events.map((e) => e.id)).size} distinct event ids; progress on stderr: ${JSON.stringify(a!.stderr.trim())}\n`,
    );
  } finally {
    r.disconnect();
    await server.stop();
  }
});

test('replay on the shared Redis: the dead letters of one reason back in the origin stream; the rest stay', async () => {
  const before = await redis.xlen(stream);
  const r = json<Summary>(await cli('dlq', 'replay', '--stream', stream, '--reason', 'max_deliveries', '--json'));
  expect(r).toMatchObject({ matched: 1000, replayed: 1000, skipped: 0 });
  expect(await redis.xlen(stream)).toBe(before + 1000);
  expect(json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json')).map((d) => d.reason)).toEqual(['malformed', 'malformed', 'malformed']);
});

test('purge: needs ids, a filter or --all; deletes what matches', async () => {
  const bare = await cli('dlq', 'purge', '-s', stream);
  expect(bare.code).toBe(2);
  expect(bare.stderr).toContain('purge deletes dead letters: name ids, a filter');
  const [one] = json<Listed[]>(await cli('dlq', 'ls', '-s', stream, '--json', '--limit', '1'));
  expect(json<Summary>(await cli('dlq', 'purge', one!.id, '-s', stream, '--json'))).toMatchObject({ matched: 1, purged: 1 });
  expect(json<Summary>(await cli('dlq', 'purge', '-s', stream, '--reason', 'malformed', '--json'))).toMatchObject({ matched: 2, purged: 2 });
  expect(await redis.xlen(dlq)).toBe(0);
});

test('a bad flag, a bad value or an unknown stream exits non-zero with a message', async () => {
  const flag = await cli('dlq', 'ls', '--stream', stream, '--bogus');
  expect(flag).toMatchObject({ code: 2, stdout: '' });
  expect(flag.stderr).toContain("unknown option '--bogus'");
  const limit = await cli('dlq', 'ls', '--stream', stream, '--limit', '0');
  expect(limit.code).toBe(2);
  expect(limit.stderr).toContain('--limit "0" is invalid: expected an integer from 1 to 10000000');
  const noStream = await cli('dlq', 'replay', '--stream', `${prefix}:nope`);
  expect(noStream.code).toBe(3);
  expect(noStream.stderr).toContain(`unknown stream: neither ${prefix}:nope nor its dead-letter stream ${prefix}:nope:dlq exists`);
  const missingStream = await cli('dlq', 'ls');
  expect(missingStream.code).toBe(2);
  expect(missingStream.stderr).toContain('--stream is required');
});
