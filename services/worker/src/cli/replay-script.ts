import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { ChainableCommander } from 'ioredis';

/**
 * The replay script, `services/worker/lua/dlq-replay.lua` (beside `src/` and `dist/`, two levels up
 * from this file in both). Run through ioredis `defineCommand` (EVAL once per connection, EVALSHA
 * after, resent on NOSCRIPT). Stand-in until core's one-way Lua loader (issue 13 part B) is on main.
 */
const SCRIPT_FILE = join(__dirname, '..', '..', 'lua', 'dlq-replay.lua');
const COMMAND = 'streamWorkersDlqReplay';

type Replay = (dlq: string, origin: string, id: string) => unknown;

/** Queues one replay on `pipeline` (made from a connection passed to {@link defineReplay}); its reply is the new entry id, or null when the dead letter was gone. */
export function queueReplay(pipeline: ChainableCommander, dlq: string, origin: string, id: string): void {
  (pipeline as unknown as Record<string, Replay>)[COMMAND]!(dlq, origin, id);
}

/** Defines the replay command on a connection (reads the script file once per process). */
export function defineReplay(redis: Redis): void {
  redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: (source ??= readFileSync(SCRIPT_FILE, 'utf8')) });
}
let source: string | undefined;
