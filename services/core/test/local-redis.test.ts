import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { LocalRedis } from '../src/local-redis';
import { createRedis, waitForReady } from '../src/redis';
import { waitFor } from '../../../test-support/process';

describe('LocalRedis (a private redis-server child process)', () => {
  test('starts on a free port, survives a SIGKILL restart with AOF, and stops', async () => {
    const r = await LocalRedis.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const c = new Redis(r.url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    c.on('error', () => undefined);
    await c.connect();
    await c.set('k', 'v');
    c.disconnect();
    await r.stopProcess('SIGKILL');
    await r.startProcess();
    const c2 = new Redis(r.url, { maxRetriesPerRequest: 0 });
    expect(await c2.get('k')).toBe('v');
    await c2.quit();
    await r.stop();
  });

  test('a missing binary is reported by name, at once (not after the start timeout)', async () => {
    // A start timeout far beyond the test's own: only an immediate report can pass.
    await expect(LocalRedis.start({ binary: '/nonexistent/redis-server', startTimeoutMs: 3_600_000 })).rejects.toThrow(/cannot start \/nonexistent\/redis-server: .*ENOENT/);
  });

  test('a server that exits at start-up is reported with its log file, and its temp dir is removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-lr-test-'));
    try {
      const logFile = join(dir, 'redis.log');
      const err = (await LocalRedis.start({ args: ['--no-such-option', 'x'], logFile }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(new RegExp(`exited with code \\d+ on port \\d+; see ${logFile.replace(/[.]/g, '\\.')}`));
      expect(readFileSync(logFile, 'utf8')).toMatch(/no-such-option/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('detached with its own environment and log file (make demo): own process group, SIGTERM stop removes the dir', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'sw-lr-test-'));
    // redis-server overwrites its environ area (process title), so a wrapper records the environment it got.
    const wrapper = join(logDir, 'redis-server-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\nenv > '${join(logDir, 'env.txt')}'\nexec redis-server "$@"\n`, { mode: 0o755 });
    let r: LocalRedis | undefined;
    try {
      const logFile = join(logDir, 'redis.log');
      r = await LocalRedis.start({ binary: wrapper, args: ['--appendonly', 'no'], env: { PATH: process.env.PATH ?? '', LR_TEST_MARK: 'yes' }, logFile, detached: true });
      const pid = r.pid!;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      expect(pgid).toBe(pid); // leader of its own group: a terminal's Ctrl-C to our group does not reach it
      const env = readFileSync(join(logDir, 'env.txt'), 'utf8').split('\n');
      expect(env).toContain('LR_TEST_MARK=yes');
      expect(env.filter((l) => l.startsWith('HOME='))).toEqual([]); // nothing inherited beyond what was given
      expect(existsSync(r.dir)).toBe(true);
      const killed = await r.stop({ signal: 'SIGTERM', graceMs: 5000 });
      expect(killed).toBe(false); // it stopped on SIGTERM
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(existsSync(r.dir)).toBe(false);
      expect(readFileSync(logFile, 'utf8')).toMatch(/Ready to accept connections/);
      expect(await r.stop()).toBe(false); // idempotent
    } finally {
      await r?.stop();
      rmSync(logDir, { recursive: true, force: true });
    }
  });

  test('a graceful stop that runs out of time ends with SIGKILL (SIGSTOPped server)', async () => {
    const r = await LocalRedis.start({ args: ['--appendonly', 'no'], detached: true });
    const pid = r.pid!;
    try {
      process.kill(pid, 'SIGSTOP'); // SIGTERM stays pending while it is stopped
      expect(await r.stop({ signal: 'SIGTERM', graceMs: 300 })).toBe(true); // true: SIGKILL was needed
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    } finally {
      await r.stop();
    }
  });
});

describe('waitForReady', () => {
  test('true once a connection to a private redis-server is ready; false after the timeout while it is down; true again when it comes up', async () => {
    const r = await LocalRedis.start({ args: ['--appendonly', 'no'] });
    const c = createRedis({ url: r.url, role: 'command', name: 'wait-test' });
    try {
      expect(await waitForReady(c, 10_000)).toBe(true);
      await r.stopProcess('SIGKILL');
      // ioredis notices the closed socket and reconnects with backoff: not ready while the server is down.
      await waitFor(() => c.status !== 'ready', 10_000, 10, 'ioredis to notice the killed server');
      expect(await waitForReady(c, 300)).toBe(false);
      await r.startProcess();
      expect(await waitForReady(c, 20_000)).toBe(true);
      expect(await c.ping()).toBe('PONG');
    } finally {
      c.disconnect();
      await r.stop();
    }
  });
});
