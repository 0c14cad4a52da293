/** The result of one run of a {@link PeriodicTask}, for choosing the delay before the next one. */
export type RunResult<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Options for {@link PeriodicTask}. */
export interface PeriodicTaskOptions<T> {
  /** One run. Runs never overlap: the next is scheduled once this one settles. */
  run: () => Promise<T>;
  /** The delay in ms before the next run, from the last run's result (a fixed interval, or a backoff after errors). */
  nextDelayMs: (result: RunResult<T>) => number;
  /** Delay in ms before the first run (default 0); `'now'` runs it synchronously inside {@link start}. */
  firstDelayMs?: number | 'now';
}

/**
 * A task run again and again until closed, one run at a time (the janitor, leader election, the
 * autoscaler's decision loop). Its timers never keep the process alive; {@link close} is idempotent,
 * stops the timer and resolves once a run in progress has settled.
 */
export class PeriodicTask<T = unknown> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: PeriodicTaskOptions<T>) {}

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Starts the runs; a no-op when already started or closed. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    const first = this.opts.firstDelayMs ?? 0;
    if (first === 'now') this.runOnce();
    else this.schedule(first);
  }

  /** Stops the runs and waits for one in progress. Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      await this.running;
    })();
    return this.closing;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce();
    }, delayMs);
    this.timer.unref();
  }

  private runOnce(): void {
    if (this.closed) return;
    const run = Promise.resolve()
      .then(this.opts.run)
      .then(
        (value): RunResult<T> => ({ ok: true, value }),
        (error: unknown): RunResult<T> => ({ ok: false, error }),
      )
      .then((result) => {
        this.running = undefined;
        this.schedule(this.opts.nextDelayMs(result));
      });
    this.running = run;
  }
}
