/**
 * Helpers of the demo tests: run `make demo` in its own process group, find leftover processes by
 * the run marker every process the demo starts carries (DEMO_RUN_ID in its environment).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');

/** Pids of live (non-zombie) processes whose environment holds DEMO_RUN_ID=<runId>. */
export function processesWithRunId(runId: string): Array<{ pid: number; command: string }> {
  const marker = `DEMO_RUN_ID=${runId}`;
  const out: Array<{ pid: number; command: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`, 'latin1').split('\0');
      if (!env.includes(marker)) continue;
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push({ pid: Number(e), command: readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

/** True while a process with this pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface DemoRun {
  proc: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the output contains `text` (bounded by `timeoutMs`). */
  waitForOutput(pred: (all: string) => boolean, timeoutMs: number): Promise<void>;
  /** SIGKILL the process group (test cleanup). */
  killGroup(): void;
}

/**
 * Starts `make demo` (in its own process group, like a shell job) with the demo variables given, in
 * `cwd` (default this checkout).
 */
export function startDemo(env: Record<string, string>, cwd = REPO_ROOT): DemoRun {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'REDIS_URL' && !k.startsWith('DEMO_') && k !== 'MAKEFLAGS' && k !== 'MFLAGS') base[k] = v;
  const proc = spawn('make', ['--no-print-directory', 'demo'], { cwd, env: { ...base, DEMO_VIEW: 'plain', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: Array<() => void> = [];
  const onData = (c: Buffer): void => {
    text += c.toString('utf8');
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    output: () => text,
    exited,
    waitForOutput(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred(text)) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(check), 1);
            resolve();
          }
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`demo output not seen within ${timeoutMs} ms; output so far:\n${text.slice(-3000)}`));
        }, timeoutMs);
        waiters.push(check);
        void exited.then(() =>
          setTimeout(() => {
            check();
            if (waiters.includes(check)) {
              clearTimeout(t);
              waiters.splice(waiters.indexOf(check), 1);
              reject(new Error(`demo exited before the expected output; output:\n${text.slice(-3000)}`));
            }
          }, 0),
        );
        check();
      });
    },
    killGroup() {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}

/** Waits for `p` at most `ms`; rejects with `what` after that. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(t);
  }
}

/** Test cleanup: SIGKILL every process carrying the run marker. */
export function killRunId(runId: string): void {
  for (const p of processesWithRunId(runId)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * A fresh copy of this checkout in `dir`, as `git clone` would give it: every file git tracks or
 * would add (untracked, not ignored), as it is in the working tree; nothing ignored (no
 * node_modules, no dist, no .tools, no demo-report). Returns the number of files copied.
 */
export function freshCheckout(dir: string): number {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
    .split('\0')
    .filter(Boolean);
  let n = 0;
  for (const f of new Set(files)) {
    const from = join(REPO_ROOT, f);
    if (!existsSync(from)) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(from, join(dir, f), { preserveTimestamps: true });
    n += 1;
  }
  return n;
}
