/**
 * The built binaries (`npx tsc -b services/producer` first): the load CLI and the producer process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { REPO_ROOT, startService, waitFor } from '../../../test-support/process';
import { freePort, PrivateRedis, SHARED_REDIS_URL, useSharedRedis } from '../../../test-support/redis';
import { shapeRate } from '../src/load/run-load';

const CLI = join(REPO_ROOT, 'services', 'producer', 'dist', 'load', 'cli.js');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const kill = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('load generator CLI and producer process (built dist, shared Redis with unique keys)', () => {
  const { prefix, redis } = useSharedRedis('producer-load');

  test('shapes stay within 10 %..100 % of the peak rate', () => {
    for (const shape of ['steady', 'ramp', 'burst', 'waves'] as const) {
      for (let t = 0; t <= 60; t += 0.5) {
        const r = shapeRate(shape, 1000, t, 60);
        expect(r).toBeGreaterThanOrEqual(99.99);
        expect(r).toBeLessThanOrEqual(1000);
      }
    }
    expect(shapeRate('ramp', 1000, 0, 60)).toBeCloseTo(100);
    expect(shapeRate('ramp', 1000, 60, 60)).toBeCloseTo(1000);
  });

  test('shapes: waves is a sine from 10 % (t = 0) to 100 % (half a period) with period min(60 s, duration / 2); burst is the peak for 2 s of every 10 s; ramp rises steadily', () => {
    // waves, 8 s run: period 4 s
    expect(shapeRate('waves', 1000, 0, 8)).toBeCloseTo(100);
    expect(shapeRate('waves', 1000, 2, 8)).toBeCloseTo(1000);
    expect(shapeRate('waves', 1000, 4, 8)).toBeCloseTo(100);
    expect(shapeRate('waves', 1000, 1, 8)).toBeCloseTo(550);
    // a 10-minute run: period capped at 60 s
    expect(shapeRate('waves', 1000, 30, 600)).toBeCloseTo(1000);
    expect(shapeRate('waves', 1000, 60, 600)).toBeCloseTo(100);
    // burst
    for (const t of [0, 1.9, 10, 11.5, 50]) expect(shapeRate('burst', 1000, t, 60)).toBe(1000);
    for (const t of [2, 5, 9.9, 12, 55]) expect(shapeRate('burst', 1000, t, 60)).toBeCloseTo(100);
    // ramp
    let last = 0;
    for (let t = 0; t <= 60; t += 1) {
      const r = shapeRate('ramp', 1000, t, 60);
      expect(r).toBeGreaterThan(last);
      last = r;
    }
    expect(shapeRate('steady', 1000, 17, 60)).toBe(1000);
  });

  test('--shape waves through the CLI to real Redis: every event answered is in the stream, about the shape\'s integral, none sent after --duration (the shape itself: pacing.test.ts)', async () => {
    const stream = `${prefix}:waves`;
    const r = await runCli(['--rate', '2000', '--duration', '8', '--shape', 'waves', '--via', 'redis', '--redis-url', SHARED_REDIS_URL, '--stream', stream, '--batch', '20']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim()) as { sent: number; acked: number; errors: number; durationS: number };
    expect(summary.errors).toBe(0);
    expect(summary.acked).toBe(summary.sent);
    expect(summary.durationS).toBeGreaterThanOrEqual(8);
    // Expected: the integral of 2000 × (0.55 − 0.45 cos(2πt/4)) over 8 s = 8800 events (the pacing
    // catches up after a stall, so a loaded machine changes when, not how many).
    expect(summary.acked).toBeGreaterThan(8800 * 0.8);
    expect(summary.acked).toBeLessThan(8800 * 1.1);
    const entries = await redis.xrange(stream, '-', '+');
    expect(entries).toHaveLength(summary.acked);
    // The events' own send times (data.at, taken when the batch is built): none after --duration
    // from the first one (the generator checks the duration before it builds a batch).
    const at = entries.map(([, f]) => (JSON.parse(f[f.indexOf('data') + 1]!) as { at: number }).at);
    console.log(`--shape waves 2000/s for 8 s: ${summary.acked} events over ${Math.max(...at) - Math.min(...at)} ms of send times`);
    expect(Math.max(...at) - Math.min(...at)).toBeLessThanOrEqual(8000);
  });

  test('--via redis: bounded by --max-events; summary acked equals XLEN; poison every N', async () => {
    const stream = `${prefix}:redis`;
    const r = await runCli(['--rate', '5000', '--duration', '20', '--via', 'redis', '--redis-url', SHARED_REDIS_URL, '--stream', stream, '--max-events', '1234', '--batch', '50', '--poison-every', '100', '--poison-type', 'boom']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim()) as { sent: number; acked: number; errors: number; durationS: number; rate: number };
    expect(summary.sent).toBe(1234);
    expect(summary.acked).toBe(1234);
    expect(summary.errors).toBe(0);
    expect(await redis.xlen(stream)).toBe(summary.acked);
    const types = (await redis.xrange(stream, '-', '+')).map((e) => e[1][e[1].indexOf('type') + 1]);
    expect(types.filter((t) => t === 'boom')).toHaveLength(12);
  });

  test('producer process over HTTP: load CLI summary matches XLEN; bad stream exits non-zero; SIGTERM exits 0', async () => {
    const stream = `${prefix}:http`;
    const port = await freePort();
    const svc = startService('producer', { REDIS_URL: SHARED_REDIS_URL, PORT: String(port), STREAMS: stream });
    try {
      await svc.waitForLog((l) => l.msg === 'producer started');
      const url = `http://127.0.0.1:${port}`;
      const ok = await runCli(['--rate', '2000', '--duration', '2', '--shape', 'waves', '--via', 'http', '--url', url, '--stream', stream]);
      expect(ok.code).toBe(0);
      const summary = JSON.parse(ok.stdout.trim()) as { sent: number; acked: number; errors: number };
      expect(summary.acked).toBeGreaterThan(0);
      expect(summary.errors).toBe(0);
      expect(await redis.xlen(stream)).toBe(summary.acked);
      expect(ok.stderr).toMatch(/load: t=1s sent=\d+ acked=\d+ rate=\d+\/s target=\d+\/s errors=0/);
      const bad = await runCli(['--rate', '100', '--duration', '1', '--via', 'http', '--url', url, '--stream', `${prefix}:not-allowed`, '--batch', '10']);
      expect(bad.code).toBe(1);
      expect((JSON.parse(bad.stdout.trim()) as { errors: number }).errors).toBeGreaterThan(0);
      expect(bad.stderr).toMatch(/HTTP 404/);
      svc.kill('SIGTERM');
      expect(await svc.exited).toEqual({ code: 0, signal: null });
      expect(svc.logs.some((l) => l.msg === 'shutdown complete' && l.clean === true)).toBe(true);
    } finally {
      svc.kill('SIGKILL');
    }
  });

  test('SIGTERM while a request waits on Redis (CLIENT PAUSE on a private redis-server): the in-flight request still answers 202, exit 0', async () => {
    const server = await PrivateRedis.start();
    const admin = new Redis(server.url);
    const port = await freePort();
    const svc = startService('producer', { REDIS_URL: server.url, PORT: String(port), STREAMS: 'events', PUBLISH_TIMEOUT_MS: '10000' });
    try {
      await svc.waitForLog((l) => l.msg === 'producer started');
      const url = `http://127.0.0.1:${port}`;
      // A pause far longer than the test needs, lifted by the test itself: no race against a slow machine.
      await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      const inflight = fetch(`${url}/v1/streams/events/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'during-shutdown', source: 'test', type: 't', data: 1 }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { ids: string[]; detail?: string } }));
      // Wait until the request's script is held by the pause in Redis, then ask the process to stop.
      let settled: unknown;
      void inflight.then((a) => (settled = a), (e: unknown) => (settled = String(e)));
      // A timeout here is reported by the expectation below, with its diagnostics.
      await waitFor(async () => settled !== undefined || /blocked_clients:[1-9]/.test(await admin.info('clients')), 30_000, 10, 'the request held by the pause').catch(() => undefined);
      // Diagnostics when the request did not reach the pause: what it answered, and what the process logged.
      expect({ settled, logs: settled === undefined ? [] : svc.logs.slice(-10), clients: await admin.info('clients') }).toEqual({
        settled: undefined,
        logs: [],
        clients: expect.stringMatching(/blocked_clients:[1-9]/),
      });
      svc.kill('SIGTERM');
      await svc.waitForLog((l) => l.msg === 'shutting down');
      await admin.call('CLIENT', 'UNPAUSE');
      const answer = await inflight;
      expect([answer.status, answer.body.detail]).toEqual([202, undefined]);
      expect(await svc.exited).toEqual({ code: 0, signal: null });
      const entries = await admin.xrange('events', '-', '+');
      expect(entries.map((e) => e[0])).toEqual(answer.body.ids);
    } finally {
      svc.kill('SIGKILL');
      admin.disconnect();
      await server.stop();
    }
  });

  test('`npm run load` is the load generator (the command the README and docs give)', () => {
    const r = spawnSync('npm', ['run', '--silent', 'load', '--', '--help'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('usage: load --rate N --duration S [--shape steady|ramp|burst|waves] [--via redis|http]');
  });

  test('a malformed variable stops start-up with exit 2 naming it; bad CLI arguments exit 2', async () => {
    const svc = startService('producer', { REDIS_URL: SHARED_REDIS_URL, PORT: '0', MAXLEN: '-5', STREAMS: 'a b' });
    const exit = await svc.exited;
    expect(exit.code).toBe(2);
    expect(svc.stderr()).toMatch(/MAXLEN="-5" is invalid/);
    expect(svc.stderr()).toMatch(/STREAMS="a b" is invalid/);
    const r = await runCli(['--rate', '10', '--duration', '1', '--shape', 'zigzag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--shape must be one of/);
  });
});
