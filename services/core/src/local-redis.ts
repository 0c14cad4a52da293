/**
 * A local redis-server child process: its own free port, its own data dir, stopped after. Used by
 * `make demo` (the embedded default when REDIS_URL is unset), the benchmarks, and the tests that kill,
 * restart or reconfigure Redis (never the shared one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import Redis from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface LocalRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--appendonly', 'yes', '--appendfsync', 'always']`. */
  args?: string[];
  /** Reuse a data dir (restart after a kill); default a new temp dir. */
  dir?: string;
  /** Reuse a port (restart); default a free one. */
  port?: number;
  /** The server binary; default `redis-server` from PATH. */
  binary?: string;
}

export class LocalRedis {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    private readonly binary: string,
  ) {}

  /** Process id of the server, while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(opts: LocalRedisOptions = {}): Promise<LocalRedis> {
    const port = opts.port ?? (await freePort());
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sw-redis-'));
    const r = new LocalRedis(port, dir, opts.args ?? [], opts.binary ?? 'redis-server');
    await r.startProcess();
    return r;
  }

  /** (Re)starts the server process on the same port and dir. */
  async startProcess(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--maxmemory-policy', 'noeviction', ...this.args];
    this.proc = spawn(this.binary, args, { stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) => this.proc!.once('error', (e) => reject(new Error(`cannot start ${this.binary}: ${e.message}`))));
    failed.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        // Wait until an AOF is loaded.
        const info = await c.info('persistence');
        if (/loading:0/.test(info)) {
          c.disconnect();
          return;
        }
      } catch {
        /* not up yet */
      }
      c.disconnect();
      if (this.proc.exitCode !== null) throw new Error(`${this.binary} exited with code ${this.proc.exitCode} on port ${this.port}`);
      if (Date.now() > deadline) throw new Error(`${this.binary} on port ${this.port} did not start within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL (crash) or SIGTERM (clean stop); resolves when the process is gone. */
  async stopProcess(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  /** Stops the server and removes its data dir. */
  async stop(): Promise<void> {
    await this.stopProcess('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

