import type * as grpc from '@grpc/grpc-js';
import { errorFields, type Logger, type RedisConnection } from '@stream-workers/core';

/** One `StreamIsActive` call in progress. */
export interface ActivityCall {
  /** Resolves when the call ended (client cancelled, server stopping). */
  done: Promise<void>;
  /** Ends the call from the server side. */
  stop(): Promise<void>;
}

export interface ActivityOptions {
  /** The exporter's connection: duplicated, so each push stream blocks on its own connection. */
  redis: RedisConnection;
  stream: string;
  read: () => Promise<{ active: boolean }>;
  logger: Logger;
  /** Longest XREAD block while inactive, and the re-check period while active, in ms; default 5000 and 1000. */
  blockMs?: number;
  activeCheckMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** The id of the stream's last entry, `0-0` when it is empty or does not exist (XREAD after it waits for the first). */
export async function tailId(redis: RedisConnection, stream: string): Promise<string> {
  const last = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
  return last[0]?.[0] ?? '0-0';
}

/**
 * `StreamIsActive` (KEDA's external-push trigger): sends the activity at once, then only changes.
 * While inactive it waits with `XREAD BLOCK … STREAMS <stream> <tail>` on its own connection, where
 * `<tail>` is the stream's last entry id read BEFORE the activity: an entry added at any moment after
 * that read (also before the XREAD reaches Redis, e.g. while the connection is still being opened)
 * answers the XREAD at once, so the first entry is pushed within a round trip (no polling, and no
 * window in which `$` would miss it). Each wake-up or block timeout re-reads the activity. While active
 * it re-reads every `activeCheckMs` to push the return to inactive.
 */
export function streamActivity(call: grpc.ServerWritableStream<unknown, { result: boolean }>, o: ActivityOptions): ActivityCall {
  const conn = o.redis.duplicate();
  conn.on('error', () => undefined); // failures surface through the reads below
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    conn.disconnect();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  const done = (async () => {
    let last: boolean | undefined;
    let failing = false;
    while (!stopped) {
      try {
        const tail = await tailId(o.redis, o.stream);
        const { active } = await o.read();
        failing = false;
        if (active !== last && !stopped) {
          call.write({ result: active });
          last = active;
        }
        if (active) await sleep(o.activeCheckMs ?? 1000);
        else await conn.xread('COUNT', 1, 'BLOCK', o.blockMs ?? 5000, 'STREAMS', o.stream, tail);
      } catch (err) {
        if (stopped) break;
        if (!failing) o.logger.warn({ stream: o.stream, ...errorFields(err) }, 'external scaler push: cannot read the backlog; retrying');
        failing = true;
        await sleep(1000);
      }
    }
    conn.disconnect();
    if (!call.destroyed) call.end();
  })();
  return {
    done,
    async stop() {
      stop();
      await done;
    },
  };
}
