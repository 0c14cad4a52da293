import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '@stream-workers/core';
import { ChildService } from './child-service';

/** Options for {@link EmbeddedRedis.start}. */
export interface EmbeddedRedisOptions {
  /** File for the server's log. */
  logFile: string;
  /** Environment of the server process (the demo's run marker). */
  env: Record<string, string>;
  /** The server binary; default `redis-server` from PATH. */
  binary?: string;
  /** How long to wait for the server to answer PING, in ms; default 10000. */
  startTimeoutMs?: number;
}

/**
 * The demo's private redis-server: a free port on 127.0.0.1, a temporary data dir, no persistence,
 * `noeviction` (DESIGN.md). Unlike core's LocalRedis it runs in its own process group, so a Ctrl-C in
 * the terminal does not stop it before the workers have handed back what they hold; `stop()` does,
 * last, and removes the data dir.
 */
export class EmbeddedRedis {
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly child: ChildService,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(opts: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sw-demo-redis-'));
    const child = new ChildService({
      name: 'redis',
      command: [opts.binary ?? 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--maxmemory-policy', 'noeviction'],
      env: opts.env,
      logFile: opts.logFile,
    });
    const r = new EmbeddedRedis(port, dir, child);
    const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
    for (;;) {
      if (child.exitStatus !== undefined) {
        await r.stop();
        const why = child.startError ? child.startError.message : `exited with code ${child.exitStatus.code}`;
        throw new Error(`redis-server could not start (${why}); see ${opts.logFile}`);
      }
      const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.ping();
        c.disconnect();
        return r;
      } catch {
        c.disconnect();
      }
      if (Date.now() > deadline) {
        await r.stop();
        throw new Error(`redis-server on port ${port} did not answer within ${opts.startTimeoutMs ?? 10_000} ms; see ${opts.logFile}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its data dir. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.child.stop(5000);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }
}
