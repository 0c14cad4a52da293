import { ConfigErrors, ConfigError } from './config';

/**
 * The message `main.ts` prints to stderr when start-up fails: configuration errors as they are (they
 * name the variable, the value and what is allowed), anything else with its message.
 */
export function describeStartupError(service: string, err: unknown): string {
  if (err instanceof ConfigErrors || err instanceof ConfigError) return `${service}: invalid configuration:\n${err.message}`;
  return `${service}: failed to start: ${err instanceof Error ? err.message : String(err)}`;
}

/** The exit code for a start-up failure: 2 for configuration, 1 otherwise. */
export function startupExitCode(err: unknown): number {
  return err instanceof ConfigErrors || err instanceof ConfigError ? 2 : 1;
}
