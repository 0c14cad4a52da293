import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisConnection } from './redis';

/**
 * The project's Lua scripts: `services/core/lua/*.lua`. The directory sits beside `src/` and `dist/`
 * (both one level below the package), so the sources (jest) and the compiled code (`dist/lua.js`, the
 * container image, `npm pack`: see the package's `files` and the Dockerfile) find the same files.
 */
export const LUA_DIR = join(__dirname, '..', 'lua');

type ScriptFunction = (this: RedisConnection, numberOfKeys: number, ...args: Array<string | number>) => Promise<unknown>;

/**
 * One Lua script file, run one way: read once (on first use), then per connection ioredis'
 * `defineCommand`, which sends `EVAL` the first time on a socket and `EVALSHA` after, and sends the
 * script again when Redis answers `NOSCRIPT` (a restart, a failover, `SCRIPT FLUSH`).
 */
export class LuaScript {
  private source: string | undefined;
  /** The ioredis command name defined on each connection (unique per script). */
  private readonly command: string;

  /** @param name The file's name without `.lua` in {@link LUA_DIR}. */
  constructor(readonly name: string) {
    this.command = `streamWorkersLua_${name.replace(/[^A-Za-z0-9]/g, '_')}`;
  }

  /** The script's text (read from its file once). */
  get lua(): string {
    this.source ??= readFileSync(join(LUA_DIR, `${this.name}.lua`), 'utf8');
    return this.source;
  }

  /** Runs the script with `keys` (KEYS) and `args` (ARGV); resolves with its reply. */
  run(redis: RedisConnection, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number> = []): Promise<unknown> {
    return this.define(redis).call(redis, keys.length, ...keys, ...args);
  }

  /**
   * A pipeline (one write on one connection) that runs the script first; the caller adds the commands
   * that must follow it on the same connection (`WAIT`) and runs `exec()`.
   */
  pipeline(redis: RedisConnection, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number> = []): ReturnType<RedisConnection['pipeline']> {
    this.define(redis); // before the pipeline is made: a pipeline takes the client's scripts when created
    const p = redis.pipeline();
    (p as unknown as Record<string, (...a: Array<string | number>) => unknown>)[this.command]!(keys.length, ...keys, ...args);
    return p;
  }

  private define(redis: RedisConnection): ScriptFunction {
    const client = redis as unknown as Record<string, ScriptFunction | undefined>;
    let fn = client[this.command];
    if (typeof fn !== 'function') {
      redis.defineCommand(this.command, { lua: this.lua }); // the number of keys is passed per call
      fn = client[this.command] as ScriptFunction;
    }
    return fn;
  }
}
