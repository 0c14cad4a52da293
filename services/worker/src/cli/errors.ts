/**
 * Exit codes of `stream-workers` (docs/dead-letters.md): scripts can tell a usage mistake from an
 * unknown stream, a missing dead letter and Redis trouble.
 */
export const EXIT = {
  /** Done (also when nothing matched). */
  ok: 0,
  /** Redis unreachable or failing, or an unexpected error. */
  failure: 1,
  /** Unknown command or flag, a missing or invalid value. */
  usage: 2,
  /** Neither the stream nor its dead-letter stream exists, or a key is not a stream. */
  unknownStream: 3,
  /** A dead letter named by id is not in the dead-letter stream. */
  notFound: 4,
} as const;

/** An error the CLI reports as one line on stderr and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usage = (message: string): CliError => new CliError(message, EXIT.usage);
