import pino, { type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Service name, logged as `service` on every line. */
  service: string;
  /** pino level; default `info`. */
  level?: LogLevel;
  /** Extra fields on every line (e.g. `consumer`). */
  base?: Record<string, unknown>;
  /** Where lines go; default stdout (fd 1). Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
}

/**
 * A pino JSON logger: one line per event worth telling, ISO timestamps, `level` as a label so that
 * log pipelines need no number-to-name mapping. Children carry `correlationid` where there is one.
 */
export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service, pid: process.pid, ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** Message and name of anything thrown, for log fields (never the whole object: it may hold secrets). */
export function errorFields(err: unknown): {
  /** The error's fields. */
  err: {
    /** Its message. */
    message: string;
    /** Its class name. */
    name?: string;
    /** Its `code` (Node's system errors, ioredis), when a string. */
    code?: string;
  };
} {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { err: { message: err.message, name: err.name, ...(typeof code === 'string' ? { code } : {}) } };
  }
  return { err: { message: String(err) } };
}
