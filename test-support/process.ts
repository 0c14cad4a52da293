/**
 * Real service processes for tests: `node services/<name>/dist/main.js` (run `npm run build` first),
 * with their JSON log lines collected for assertions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..');

export interface ServiceProcess {
  proc: ChildProcess;
  /** Parsed JSON log lines seen so far (stdout). */
  logs: Array<Record<string, unknown>>;
  /** Raw stderr text. */
  stderr(): string;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line matching `pred` (default timeout 20 s). */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Starts `node services/<name>/dist/main.js` of this checkout; `script` and `cwd` run another copy
 * of it (e.g. a replayed container image's /app).
 */
export function startService(name: string, env: Record<string, string>, script = join(REPO_ROOT, 'services', name, 'dist', 'main.js'), cwd?: string): ServiceProcess {
  const proc = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        obj = { msg: line, unparsed: true };
      }
      logs.push(obj);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.pred(obj)) {
          waiters[i]!.resolve(obj);
          waiters.splice(i, 1);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    logs,
    stderr: () => err,
    exited,
    waitForLog(pred, timeoutMs = 20_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`log line not seen within ${timeoutMs} ms; last lines: ${JSON.stringify(logs.slice(-5))} stderr: ${err.slice(-500)}`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => { clearTimeout(t); resolve(l); } });
      });
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 30_000, intervalMs = 50, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Stops processes started by {@link startService}: SIGTERM first (an autoscaler with TARGET_KIND=local
 * stops its own worker processes, which a SIGKILL would orphan, and their output, inherited from its
 * pipes, would keep jest from exiting), SIGKILL for whatever is left after `killAfterMs`.
 */
export async function stopProcesses(procs: ServiceProcess[], killAfterMs = 40_000): Promise<void> {
  for (const p of procs) p.kill('SIGTERM');
  const killer = setTimeout(() => procs.forEach((p) => p.kill('SIGKILL')), killAfterMs);
  try {
    await Promise.all(procs.map((p) => p.exited));
  } finally {
    clearTimeout(killer);
  }
}
