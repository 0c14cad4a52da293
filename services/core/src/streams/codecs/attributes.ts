/**
 * Helpers shared by the codecs that read events other producers wrote: they pick attributes out of a
 * document by one of several names and check their kind, naming the attribute when it is wrong.
 */

/** A JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Thrown inside a codec for an attribute of the wrong kind; the codec turns it into its reason. */
export class AttributeError extends Error {}

/**
 * The first of `paths` (dotted: `metadata.version`) present in `doc`, as a string: strings as they
 * are, finite numbers written out (a `"version": 1.1` is `"1.1"`). Undefined when none is present;
 * an AttributeError when the first present one is not a non-empty string or a number.
 */
export function pick(doc: Record<string, unknown>, paths: readonly string[], where: string): string | undefined {
  for (const path of paths) {
    let v: unknown = doc;
    for (const part of path.split('.')) v = isObject(v) ? v[part] : undefined;
    if (v === undefined || v === null) continue;
    if (typeof v === 'string' && v.length > 0) return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    throw new AttributeError(`${where}: ${path} must be a non-empty string or a number, got ${JSON.stringify(v)}`);
  }
  return undefined;
}
