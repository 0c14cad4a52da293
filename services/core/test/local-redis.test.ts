import Redis from 'ioredis';
import { LocalRedis } from '../src/local-redis';
import { createRedis, waitForReady } from '../src/redis';

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

  test('a missing binary is reported by name', async () => {
    await expect(LocalRedis.start({ binary: '/nonexistent/redis-server' })).rejects.toThrow(/nonexistent\/redis-server/);
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
      for (let i = 0; i < 200 && c.status === 'ready'; i++) await new Promise((res) => setTimeout(res, 10));
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
