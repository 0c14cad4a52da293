import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { processesInGroups, type ProcessInfo } from './process-table';

/** Options for {@link ChildService}. */
export interface ChildServiceOptions {
  /** Short name (`producer`, `autoscaler`, …), used in messages. */
  name: string;
  /** Program and arguments, e.g. `[process.execPath, 'services/producer/dist/main.js']`. */
  command: [string, ...string[]];
  /** The complete environment of the process (nothing is inherited). */
  env: Record<string, string>;
  /** File that receives the process's stdout and stderr (appended). */
  logFile: string;
  /** Working directory; default the current one. */
  cwd?: string;
}

/** How a {@link ChildService} ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What {@link ChildService.stop} did. */
export interface ChildStopResult {
  exit: ChildExit;
  /** True when the process did not exit in time after SIGTERM and was killed. */
  killed: boolean;
  /** Processes of its group still alive after it exited (orphans), killed with SIGKILL. */
  orphans: ProcessInfo[];
}

/**
 * One service of the demo as a child process in its own process group (so that a Ctrl-C in the
 * terminal reaches only the demo, which then stops the services in order, and so that whatever the
 * service starts, e.g. the autoscaler's worker processes, can be found and killed as a backstop).
 * Its output goes to a log file, never to the terminal.
 */
export class ChildService {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | undefined;
  private stopping: Promise<ChildStopResult> | undefined;

  constructor(private readonly opts: ChildServiceOptions) {
    this.name = opts.name;
    const fd = openSync(opts.logFile, 'a');
    try {
      const [cmd, ...args] = opts.command;
      this.proc = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    this.exited = new Promise<ChildExit>((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.proc.once('error', (err) => {
        if (this.proc.pid === undefined) {
          this.exit = { code: 127, signal: null };
          this.startError = err;
          resolve(this.exit);
        }
      });
    });
  }

  /** Set when the program could not be started at all (e.g. not found). */
  startError: Error | undefined;

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** The exit status once the process has ended. */
  get exitStatus(): ChildExit | undefined {
    return this.exit;
  }

  /** The last `lines` lines of its log file, for error messages. */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.opts.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** The live processes of its process group (itself and what it started). */
  processes(): ProcessInfo[] {
    return this.proc.pid === undefined ? [] : processesInGroups([this.proc.pid]);
  }

  /** Sends a signal to the whole process group (backstop); ignores a group that is gone. */
  killGroup(signal: NodeJS.Signals): void {
    if (this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      /* group gone */
    }
  }

  /**
   * SIGTERM, then waits up to `timeoutMs` for the exit; after that SIGKILL to the whole group. Any
   * process of its group still alive after it exited is an orphan: it is reported and killed.
   * Idempotent.
   */
  stop(timeoutMs: number): Promise<ChildStopResult> {
    this.stopping ??= (async () => {
      let killed = false;
      if (this.exit === undefined && this.proc.pid !== undefined) {
        this.proc.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const inTime = await Promise.race([
          this.exited.then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), timeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (!inTime) {
          killed = true;
          this.killGroup('SIGKILL');
        }
      }
      const exit = await this.exited;
      const orphans = this.processes();
      if (orphans.length > 0) {
        this.killGroup('SIGKILL');
        const deadline = Date.now() + 5000;
        while (this.processes().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      }
      return { exit, killed, orphans };
    })();
    return this.stopping;
  }
}
