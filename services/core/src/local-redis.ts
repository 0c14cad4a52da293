/**
 * A local redis-server child process: its own free port, its own data dir, stopped after. Used by
 * `make demo` (the embedded default when REDIS_URL is unset: detached, with a log file and the demo's
 * environment), the benchmarks, and the tests that kill, restart or reconfigure Redis (never the
 * shared one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import Redis from 'ioredis';

/** A TCP port free on 127.0.0.1 right now (the OS picks it; another process may take it before use). */
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

/** Options of {@link LocalRedis.start}. */
export interface LocalRedisOptions {
  /** Extra `redis-server` arguments, e.g. `['--appendonly', 'yes', '--appendfsync', 'always']`. */
  args?: string[];
  /** Reuse a data dir (restart after a kill); default a new temp dir. */
  dir?: string;
  /** Reuse a port (restart); default a free one. */
  port?: number;
  /** The server binary; default `redis-server` from PATH. */
  binary?: string;
  /** The complete environment of the server process; default this process's environment. */
  env?: Record<string, string>;
  /** File that receives the server's stdout and stderr (appended); default discarded. */
  logFile?: string;
  /**
   * Run the server in its own process group (default false), so that a Ctrl-C in a terminal reaches
   * only its parent, which then stops it last (`make demo`); {@link LocalRedis.killGroup} reaches the group.
   */
  detached?: boolean;
  /** How long the server may take to answer (and load its AOF), in ms; default 10000. */
  startTimeoutMs?: number;
  /** The password the server requires (`--requirepass` among `args`): the start-up probe authenticates with it. */
  password?: string;
}

/** Options of {@link LocalRedis.stop}. */
export interface LocalRedisStopOptions {
  /** Signal sent first; default SIGKILL (a crash: the tests' default). */
  signal?: NodeJS.Signals;
  /** With another signal than SIGKILL: SIGKILL after this many ms; default 5000. */
  graceMs?: number;
}

/**
 * A private redis-server child process on 127.0.0.1: its own free port and data dir, no RDB snapshots,
 * `noeviction` (docs/design.md, "Redis requirements"), stopped (and its dir removed) by {@link stop}.
 */
export class LocalRedis {
  private proc: ChildProcess | undefined;
  private constructor(
    /** The server's port on 127.0.0.1. */
    readonly port: number,
    /** The server's data dir. */
    readonly dir: string,
    private readonly args: string[],
    private readonly binary: string,
    private readonly opts: LocalRedisOptions,
  ) {}

  /** Process id of the server, while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server and resolves once it answers PING (and loaded its data). */
  static async start(opts: LocalRedisOptions = {}): Promise<LocalRedis> {
    const port = opts.port ?? (await freePort());
    const ownDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sw-redis-'));
    const r = new LocalRedis(port, dir, opts.args ?? [], opts.binary ?? 'redis-server', opts);
    try {
      await r.startProcess();
    } catch (err) {
      await r.stopProcess('SIGKILL');
      if (ownDir) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return r;
  }

  /** (Re)starts the server process on the same port and dir; rejects naming the binary (and the log file) when it cannot start. */
  async startProcess(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--daemonize', 'no', '--maxmemory-policy', 'noeviction', ...this.args];
    const fd = this.opts.logFile ? openSync(this.opts.logFile, 'a') : undefined;
    let proc: ChildProcess;
    try {
      proc = spawn(this.binary, args, {
        stdio: fd === undefined ? 'ignore' : ['ignore', fd, fd],
        detached: this.opts.detached ?? false,
        ...(this.opts.env ? { env: this.opts.env } : {}),
      });
    } finally {
      if (fd !== undefined) closeSync(fd); // the child holds its own copy
    }
    this.proc = proc;
    let spawnError: Error | undefined;
    proc.once('error', (e) => (spawnError = e));
    const seeLog = this.opts.logFile ? `; see ${this.opts.logFile}` : '';
    const timeoutMs = this.opts.startTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`cannot start ${this.binary}: ${spawnError.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`${this.binary} exited with ${proc.exitCode !== null ? `code ${proc.exitCode}` : proc.signalCode} on port ${this.port}${seeLog}`);
      }
      const c = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, ...(this.opts.password !== undefined ? { password: this.opts.password } : {}) });
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
      if (Date.now() > deadline) throw new Error(`${this.binary} on port ${this.port} did not start within ${timeoutMs} ms${seeLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Sends `signal` (SIGKILL: a crash; SIGTERM: a clean stop) and resolves when the process is gone;
   * with `killAfterMs`, SIGKILL follows when it has not exited by then. Resolves true when that
   * SIGKILL was needed.
   */
  async stopProcess(signal: NodeJS.Signals = 'SIGTERM', killAfterMs?: number): Promise<boolean> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return false;
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let killed = false;
      p.once('exit', () => {
        clearTimeout(timer);
        resolve(killed);
      });
      p.kill(signal);
      if (killAfterMs !== undefined && signal !== 'SIGKILL') {
        timer = setTimeout(() => {
          killed = true;
          p.kill('SIGKILL');
        }, killAfterMs);
      }
    });
  }

  /** Sends `signal` to the server's process group (`detached` servers; a backstop such as a second Ctrl-C). */
  killGroup(signal: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(this.opts.detached ? -pid : pid, signal);
    } catch {
      /* gone */
    }
  }

  /**
   * Stops the server (default SIGKILL; see {@link LocalRedisStopOptions}) and removes its data dir.
   * Idempotent. Resolves true when a graceful stop ran out of time and SIGKILL followed.
   */
  async stop(opts: LocalRedisStopOptions = {}): Promise<boolean> {
    const signal = opts.signal ?? 'SIGKILL';
    const killed = await this.stopProcess(signal, signal === 'SIGKILL' ? undefined : (opts.graceMs ?? 5000));
    rmSync(this.dir, { recursive: true, force: true });
    return killed;
  }
}
