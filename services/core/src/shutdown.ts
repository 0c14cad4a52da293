import type { Logger } from 'pino';
import { errorFields } from './logger';

/** One part to close, in the order registered. */
interface Step {
  name: string;
  close: () => Promise<void> | void;
}

/** Options for {@link Shutdown}. */
export interface ShutdownOptions {
  /** Steps and their failures are logged here. */
  logger: Logger;
  /** Deadline for all steps together, in ms. Steps still running then are abandoned. */
  deadlineMs: number;
}

/** What {@link Shutdown.run} reports. */
export interface ShutdownResult {
  /** True when every step finished within the deadline without throwing. */
  clean: boolean;
  /** Steps that threw or did not finish in time. */
  failed: string[];
}

/**
 * Closes the parts of a service in the order they were added, once, within a deadline. A second
 * `run()` returns the first run's promise. `main.ts` wires signals to it; everything else only adds
 * steps.
 */
export class Shutdown {
  private readonly steps: Step[] = [];
  private running: Promise<ShutdownResult> | undefined;

  constructor(private readonly opts: ShutdownOptions) {}

  /** Adds a step; steps run in the order added. */
  add(name: string, close: () => Promise<void> | void): this {
    this.steps.push({ name, close });
    return this;
  }

  /** True once {@link Shutdown.run} was called. */
  get started(): boolean {
    return this.running !== undefined;
  }

  /** Runs the steps once (later calls get the same result), each after the other, within the deadline. */
  run(reason: string): Promise<ShutdownResult> {
    this.running ??= this.execute(reason);
    return this.running;
  }

  private async execute(reason: string): Promise<ShutdownResult> {
    const log = this.opts.logger;
    const started = Date.now();
    const deadline = started + this.opts.deadlineMs;
    const failed: string[] = [];
    log.info({ reason, deadlineMs: this.opts.deadlineMs }, 'shutting down');
    for (const step of this.steps) {
      const left = deadline - Date.now();
      if (left <= 0) {
        failed.push(step.name);
        log.error({ step: step.name }, 'shutdown deadline passed before this step ran');
        continue;
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
        timer.unref();
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(step.close).then(() => 'done' as const), timeout]);
        if (outcome === 'timeout') {
          failed.push(step.name);
          log.error({ step: step.name }, 'shutdown step did not finish before the deadline');
        }
      } catch (err) {
        failed.push(step.name);
        log.error({ step: step.name, ...errorFields(err) }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
    log.info({ durationMs: Date.now() - started, clean: failed.length === 0, failed }, 'shutdown complete');
    return { clean: failed.length === 0, failed };
  }
}

/**
 * The signal handler for `main.ts` (which alone installs it and exits): the first SIGTERM/SIGINT runs
 * the shutdown and then calls `exit` with 0 when it was clean, 1 otherwise; a second signal calls
 * `exit(130)` at once.
 */
export function signalHandler(shutdown: Shutdown, logger: Logger, exit: (code: number) => void): (signal: NodeJS.Signals) => void {
  let signals = 0;
  return (signal) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(130);
      return;
    }
    void shutdown.run(signal).then((r) => exit(r.clean ? 0 : 1));
  };
}
