import { join, resolve } from 'node:path';
import { redactUrl } from '@stream-workers/core';
import { ChildService, type ChildStopResult } from './child-service';
import type { ProcessInfo } from './process-table';
import type { ProcessRecord } from './summary';

/** A startup step that failed: the run stops with this message. */
export class StartupError extends Error {}

/** Resolves after `ms`, or at once when `signal` aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((done) => {
    if (signal?.aborted) return done();
    const t = setTimeout(finish, ms);
    function finish(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', finish);
      done();
    }
    signal?.addEventListener('abort', finish, { once: true });
  });

/** Options for {@link DemoProcesses}. */
export interface DemoProcessesOptions {
  repoRoot: string;
  logDir: string;
  /** Variables every child inherits (PATH, HOME, …) plus the run's own (DEMO_RUN_ID, LOG_LEVEL). */
  env: Record<string, string>;
  /** The run is stopping: an exit is expected, not a failure. */
  signal: AbortSignal;
  /** A child exited while the run was going: the run fails with this reason. */
  onUnexpectedExit: (reason: string) => void;
}

/** One child stopped: what {@link DemoProcesses.stopAll} reports. */
export type StopRecord = [{ name: string }, Pick<ChildStopResult, 'killed' | 'orphans'>];

/**
 * The service processes of one demo run: started with their log files, waited on until ready,
 * stopped in order, and recorded (every pid the run started, the environment each service got).
 */
export class DemoProcesses {
  readonly children: ChildService[] = [];
  readonly started: ProcessRecord[] = [];
  /** The environment of each service as shown in the report (no PATH/HOME, Redis URL redacted). */
  readonly serviceEnv: Record<string, Record<string, string>> = {};

  constructor(private readonly o: DemoProcessesOptions) {}

  path(...p: string[]): string {
    return resolve(this.o.repoRoot, ...p);
  }

  logFile(name: string): string {
    return join(this.o.logDir, `${name}.log`);
  }

  spawn(name: string, script: string, env: Record<string, string>): ChildService {
    const shown = { ...env };
    if (shown.REDIS_URL) shown.REDIS_URL = redactUrl(shown.REDIS_URL);
    this.serviceEnv[name] = shown;
    const c = new ChildService({ name, command: [process.execPath, this.path(script)], env: { ...this.o.env, ...env }, logFile: this.logFile(name), cwd: this.o.repoRoot });
    this.children.push(c);
    if (c.pid !== undefined) this.started.push({ name, pid: c.pid });
    void c.exited.then((e) => {
      if (!this.o.signal.aborted) this.o.onUnexpectedExit(`${name} exited unexpectedly (code ${e.code}, signal ${e.signal}); see ${this.logFile(name)}:\n${c.logTail(8)}`);
    });
    return c;
  }

  /** Polls `GET <url>/readyz` until 200, the child exits, the run aborts or `timeoutMs` passes. */
  async waitReady(c: ChildService, url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: string;
    while (!this.o.signal.aborted) {
      if (c.exitStatus !== undefined) return; // reported by the exit watcher
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
        last = `HTTP ${res.status} ${(await res.text()).trim()}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new StartupError(`${c.name} not ready within ${timeoutMs / 1000} s (${last}); see ${this.logFile(c.name)}:\n${c.logTail(8)}`);
      await sleep(100, this.o.signal);
    }
  }

  /** The worker processes the autoscaler runs (its process group, itself excluded); records new pids. */
  workers(autoscaler: ChildService): ProcessInfo[] {
    const ws = autoscaler.processes().filter((p) => p.pid !== autoscaler.pid);
    for (const w of ws) if (!this.started.some((p) => p.pid === w.pid)) this.started.push({ name: 'worker', pid: w.pid });
    return ws;
  }

  /** Stops the autoscaler (which stops its workers), the producer and the exporter, in that order, then the rest. */
  async stopAll(autoscalerGraceMs: number): Promise<StopRecord[]> {
    const stops: StopRecord[] = [];
    const byName = (n: string) => this.children.find((c) => c.name === n);
    for (const [name, timeoutMs] of [
      ['autoscaler', autoscalerGraceMs],
      ['producer', 5000],
      ['lag-exporter', 5000],
    ] as const) {
      const c = byName(name);
      if (c) stops.push([c, await c.stop(timeoutMs)]);
    }
    for (const c of this.children) if (!stops.some(([s]) => s === c)) stops.push([c, await c.stop(5000)]);
    return stops;
  }

  /** Second Ctrl-C: SIGKILL every process group started. */
  killAll(): void {
    for (const c of this.children) c.killGroup('SIGKILL');
  }
}
