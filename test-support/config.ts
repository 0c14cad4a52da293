import { ConfigErrors } from '../services/core/src';

/** The message of the configuration error `parse` throws (ConfigErrors: every bad variable named); fails the test when it throws none. */
export function configErrorOf(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.message;
    throw err;
  }
  throw new Error('no configuration error');
}
