import { createLogger, type Logger } from '@stream-workers/core';

/** A pino logger whose JSON lines are collected for assertions. */
export function captureLogger(service = 'autoscaler-test'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    service,
    level: 'debug',
    destination: {
      write(chunk: string) {
        for (const l of chunk.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines };
}

/** A backlog whose value the test sets (the Kubernetes tests are about the API, not Redis). */
export class ScriptedBacklog {
  value: number | undefined = 0;
  async read(): Promise<number | undefined> {
    return this.value;
  }
}

/** A clock the test moves by hand. */
export class SimClock {
  constructor(public ms = 1_700_000_000_000) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}
