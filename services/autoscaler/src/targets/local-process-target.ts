import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '@stream-workers/core';
import type { ConsumerLiveness } from '../janitor';
import type { ScaleTarget, TargetState } from '../scale-target';

/** Options for {@link LocalProcessTarget}. */
export interface LocalProcessTargetOptions {
  /** Path of the worker entry point, run as `node <script>` (e.g. services/worker/dist/main.js). */
  script: string;
  /** Environment of every worker (STREAM, GROUP, REDIS_URL, SIM_WORK_MS, …); PORT=0 and CONSUMER are set per process. */
  env: Record<string, string | undefined>;
  logger: Logger;
  /** Prefix of the consumer names (`<prefix>-<n>`); default `local-<pid>`. Must be unique per autoscaler. */
  namePrefix?: string;
  /** Where the workers' stdout/stderr go; default `inherit` (the demo shows their logs). */
  output?: 'inherit' | 'ignore';
  /** After SIGTERM, SIGKILL a worker that has not exited within this many ms; default 35000. */
  stopTimeoutMs?: number;
  /** The node binary; default the running one. */
  nodePath?: string;
}

interface Worker {
  name: string;
  proc: ChildProcess;
  startedAt: number;
  exited: Promise<void>;
  stopping: boolean;
}

/**
 * A scale target made of local worker processes, for `make demo` and tests: scaling up starts
 * `node <script>` processes (PORT=0, a unique CONSUMER each), scaling down sends SIGTERM to the newest
 * and waits for them to exit (the worker finishes or hands back what it holds). Like a ReplicaSet, it
 * replaces a worker that died (with a backoff when they crash at start). `close()` stops all.
 */
export class LocalProcessTarget implements ScaleTarget {
  readonly description: string;
  private readonly workers = new Map<string, Worker>();
  private readonly ran = new Set<string>();
  private desired = 0;
  private seq = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private crashes = 0;
  private respawnAfter = 0;
  private readonly prefix: string;

  constructor(private readonly opts: LocalProcessTargetOptions) {
    this.prefix = opts.namePrefix ?? `local-${process.pid}`;
    this.description = `local worker processes (${opts.script})`;
  }

  /** Names of the consumers of the running workers (stopping ones included). */
  get runningConsumers(): string[] {
    return [...this.workers.keys()];
  }

  async read(): Promise<TargetState> {
    this.reconcile();
    return { replicas: this.desired, paused: false };
  }

  async scale(replicas: number): Promise<void> {
    if (this.closed) throw new Error('local target is closed');
    this.desired = Math.max(0, Math.floor(replicas));
    const active = [...this.workers.values()].filter((w) => !w.stopping);
    if (active.length < this.desired) {
      for (let i = active.length; i < this.desired; i++) this.startOne();
      return;
    }
    // Newest first, like a ReplicaSet picks the youngest pods.
    const victims = active.sort((a, b) => b.startedAt - a.startedAt).slice(0, active.length - this.desired);
    await Promise.all(victims.map((w) => this.stopOne(w)));
  }

  /** For the janitor: a consumer this target ran and no longer runs is `gone`; one it runs is `alive`. */
  liveness(consumer: string): ConsumerLiveness {
    if (this.workers.has(consumer)) return 'alive';
    if (this.ran.has(consumer)) return 'gone';
    return 'unknown';
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.desired = 0;
      await Promise.all([...this.workers.values()].map((w) => this.stopOne(w)));
    })();
    return this.closing;
  }

  private reconcile(): void {
    if (this.closed) return;
    const active = [...this.workers.values()].filter((w) => !w.stopping).length;
    if (active >= this.desired || Date.now() < this.respawnAfter) return;
    for (let i = active; i < this.desired; i++) this.startOne();
  }

  private startOne(): void {
    this.seq += 1;
    const name = `${this.prefix}-${this.seq}`;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.opts.env)) if (v !== undefined) env[k] = v;
    env.PORT = '0';
    env.CONSUMER = name;
    const proc = spawn(this.opts.nodePath ?? process.execPath, [this.opts.script], {
      env,
      stdio: ['ignore', this.opts.output ?? 'inherit', this.opts.output ?? 'inherit'],
    });
    const worker: Worker = { name, proc, startedAt: Date.now(), stopping: false, exited: Promise.resolve() };
    worker.exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        this.workers.delete(name);
        if (!worker.stopping) this.onUnexpectedExit(worker, code, signal);
        resolve();
      });
      proc.once('error', (err) => {
        this.opts.logger.error({ consumer: name, err: { message: err.message } }, 'cannot start worker process');
        if (proc.exitCode === null && proc.pid === undefined) {
          this.workers.delete(name);
          if (!worker.stopping) this.onUnexpectedExit(worker, null, null);
          resolve();
        }
      });
    });
    this.workers.set(name, worker);
    this.ran.add(name);
    this.opts.logger.info({ consumer: name, pid: proc.pid }, 'started worker process');
  }

  private onUnexpectedExit(w: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const quick = Date.now() - w.startedAt < 5000;
    this.crashes = quick ? this.crashes + 1 : 0;
    const backoffMs = quick ? Math.min(60_000, 1000 * 2 ** Math.min(6, this.crashes - 1)) : 0;
    this.respawnAfter = Date.now() + backoffMs;
    this.opts.logger.warn({ consumer: w.name, code, signal, respawnInMs: backoffMs }, 'worker process exited unexpectedly; it will be replaced');
  }

  private async stopOne(w: Worker): Promise<void> {
    if (!w.stopping) {
      w.stopping = true;
      if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
    }
    const timeoutMs = this.opts.stopTimeoutMs ?? 35_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      w.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.opts.logger.warn({ consumer: w.name, timeoutMs }, 'worker process did not exit after SIGTERM: killing it');
      w.proc.kill('SIGKILL');
      await w.exited;
    } else {
      this.opts.logger.info({ consumer: w.name, code: w.proc.exitCode }, 'worker process stopped');
    }
  }
}
