import type { CheckedVarSpec } from './config';

/** The kind of a value in an error message: `a string`, `an object`, `null`, … */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' || typeof value === 'undefined' ? `an ${typeof value}` : `a ${typeof value}`;
}

/** A value as an error message shows it: strings quoted, numbers and booleans as they are, other values by kind. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return kindOf(value);
}

/**
 * Checks an option passed in code against the rule of a variable's spec (one rule for both: the
 * library option `batchSize` and `BATCH_SIZE`). `undefined` is allowed unless `required` (the caller
 * applies the default). Throws a `TypeError` for a wrong type or a missing required option, a
 * `RangeError` for a value of the right type that is not allowed; the message names `where`, the
 * option, the value and what is allowed.
 */
export function checkOption<T>(where: string, option: string, spec: CheckedVarSpec<T>, value: unknown, required = false): T | undefined {
  if (value === undefined) {
    if (required) throw new TypeError(`${where}: option ${option} is required: expected ${spec.allowed}`);
    return undefined;
  }
  if (typeof value !== spec.type) {
    throw new TypeError(`${where}: option ${option}=${describeValue(value)} is invalid: expected ${spec.allowed}, got ${kindOf(value)}`);
  }
  if (!spec.accepts(value as T)) throw new RangeError(`${where}: option ${option}=${describeValue(value)} is invalid: expected ${spec.allowed}`);
  return value as T;
}
