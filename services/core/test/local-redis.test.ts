import Redis from 'ioredis';
import { LocalRedis } from '../src/local-redis';

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
