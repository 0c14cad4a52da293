import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { LUA_DIR, LuaScript } from '../src/lua';
import { PrivateRedis, SHARED_REDIS_URL } from '../../../test-support/redis';

const ROOT = join(__dirname, '..');

describe('LuaScript: every script from its .lua file, run one way', () => {
  test('the sources and the compiled code find the same directory, which npm pack ships', () => {
    expect(LUA_DIR).toBe(join(ROOT, 'lua'));
    // dist/lua.js resolves the same way (tsc -b built it; the test project runs the sources).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled module, loaded as Node would
    const compiled = require(join(ROOT, 'dist', 'lua.js')) as { LUA_DIR: string };
    expect(compiled.LUA_DIR).toBe(LUA_DIR);
    // npm pack (dry run) ships every script beside dist/.
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ files: Array<{ path: string }> }>;
    const paths = packed[0]!.files.map((f) => f.path);
    const scripts = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
    expect(scripts.length).toBeGreaterThanOrEqual(5);
    expect(paths).toEqual(expect.arrayContaining([...scripts.map((f) => `lua/${f}`), 'dist/lua.js']));
  });

  test('every .lua file compiles in Redis (SCRIPT LOAD) and its SHA is the one ioredis sends', async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      const names = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
      expect(names.length).toBeGreaterThanOrEqual(5);
      for (const f of names) {
        const script = new LuaScript(f.slice(0, -4));
        expect(await redis.script('LOAD', script.lua)).toBe(createHash('sha1').update(script.lua).digest('hex'));
      }
    } finally {
      redis.disconnect();
    }
  });

  test('after SCRIPT FLUSH (private server) the next run loads the script again (NOSCRIPT fallback)', async () => {
    const server = await PrivateRedis.start();
    const redis = new Redis(server.url);
    try {
      const script = new LuaScript('delete-consumer-if-idle');
      await redis.xgroup('CREATE', 's', 'g', '$', 'MKSTREAM');
      await redis.xgroup('CREATECONSUMER', 's', 'g', 'c');
      expect(Number(await script.run(redis, ['s'], ['g', 'c']))).toBe(0);
      await redis.xgroup('CREATECONSUMER', 's', 'g', 'c');
      await redis.script('FLUSH');
      expect(Number(await script.run(redis, ['s'], ['g', 'c']))).toBe(0); // EVALSHA → NOSCRIPT → EVAL
      expect(Number(await script.run(redis, ['s'], ['g', 'c']))).toBe(0); // consumer already gone: still 0, no error
      const stats = await redis.info('commandstats');
      expect(stats).toMatch(/cmdstat_evalsha:calls=\d+,.*failed_calls=1/);
      expect(await redis.xinfo('CONSUMERS', 's', 'g')).toEqual([]);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
