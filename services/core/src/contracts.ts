/**
 * Handler contracts: a JSON Schema (compiled once with ajv) or a zod schema per event type and
 * schema version. The worker checks an event's payload against the contract of its type and version
 * before the handler runs; a payload that fails goes to the dead-letter stream on that first delivery
 * with reason `schema` and the failing path (docs/worker.md, "Contracts").
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { kindOf } from './config';

/** The part of a zod schema (3 or 4) a contract uses: zod itself is not a dependency. */
export interface ZodLikeSchema {
  safeParse(data: unknown): { success: true } | { success: false; error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> } };
}

/** One contract: the payload (`event.data`) of events of `type` (and `version`, when given) must match `schema`. */
export interface Contract {
  /** The event type it applies to. */
  type: string;
  /** The schema version (`event.schemaversion`) it applies to; omitted: every version without a contract of its own. */
  version?: string;
  /** A JSON Schema object (draft-07; unknown keywords and formats are errors; `format` from ajv-formats), or a zod schema. */
  schema: Record<string, unknown> | ZodLikeSchema;
}

type Check = (data: unknown) => string | undefined;

const WHERE = 'contracts';

function isZod(s: unknown): s is ZodLikeSchema {
  return typeof s === 'object' && s !== null && typeof (s as { safeParse?: unknown }).safeParse === 'function';
}

/** The failing path of an ajv error, as a JSON pointer into the payload (`/items/0/sku`, `/` for the payload itself). */
function ajvPath(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  const child = e.keyword === 'required' ? p.missingProperty : e.keyword === 'additionalProperties' ? p.additionalProperty : undefined;
  const path = typeof child === 'string' ? `${e.instancePath}/${child}` : e.instancePath;
  return path || '/';
}

function keyOf(type: string, version: string | undefined): string {
  return version === undefined ? `${type}\u0000*` : `${type}\u0000=${version}`;
}

/**
 * The contracts of one handler, compiled once. Construction checks the list (a TypeError naming
 * `contracts[i].field` for a wrong shape, an Error naming the contract for a schema ajv rejects, or for
 * two contracts of the same type and version).
 */
export class Contracts {
  private readonly checks = new Map<string, Check>();

  constructor(list: unknown) {
    if (!Array.isArray(list)) throw new TypeError(`${WHERE} must be an array of { type, version?, schema }, got ${kindOf(list)}`);
    // Unknown keywords and formats are errors (a typo in a schema fails at start, not silently); the
    // stylistic strict checks (types, tuples, required) are off: they would reject valid schemas.
    const ajv = new Ajv({ allErrors: false, strictSchema: true, strictNumbers: true, strictTypes: false, strictTuples: false, strictRequired: false });
    addFormats(ajv);
    list.forEach((c: unknown, i) => {
      const at = `${WHERE}[${i}]`;
      if (typeof c !== 'object' || c === null) throw new TypeError(`${at} must be an object { type, version?, schema }, got ${kindOf(c)}`);
      const { type, version, schema } = c as Record<string, unknown>;
      if (typeof type !== 'string' || type === '') throw new TypeError(`${at}.type must be a non-empty string, got ${kindOf(type)}`);
      if (version !== undefined && (typeof version !== 'string' || version === '')) throw new TypeError(`${at}.version must be a non-empty string, got ${kindOf(version)}`);
      const key = keyOf(type, version);
      if (this.checks.has(key)) throw new Error(`${at}: a second contract for type ${JSON.stringify(type)}${version === undefined ? '' : ` version ${JSON.stringify(version)}`}`);
      this.checks.set(key, compile(ajv, schema, at));
    });
  }

  /** Contracts declared. */
  get size(): number {
    return this.checks.size;
  }

  /**
   * Checks a payload: undefined when it passes or no contract applies (none for its type, or only
   * versioned ones none of which is its version), else `<path>: <message>` of the first failure.
   */
  check(type: string, version: string | undefined, data: unknown): string | undefined {
    if (this.checks.size === 0) return undefined;
    const check = (version !== undefined ? this.checks.get(keyOf(type, version)) : undefined) ?? this.checks.get(keyOf(type, undefined));
    return check?.(data);
  }
}

function compile(ajv: Ajv, schema: unknown, at: string): Check {
  if (isZod(schema)) {
    return (data) => {
      const r = schema.safeParse(data);
      if (r.success) return undefined;
      const issue = r.error.issues[0];
      if (!issue) return '/: does not match the schema';
      return `/${issue.path.map(String).join('/')}: ${issue.message}`;
    };
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new TypeError(`${at}.schema must be a JSON Schema object or a zod schema, got ${kindOf(schema)}`);
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new Error(`${at}.schema is not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return (data) => {
    if (validate(data)) return undefined;
    const e = validate.errors?.[0];
    return e ? `${ajvPath(e)}: ${e.message ?? 'does not match the schema'}` : '/: does not match the schema';
  };
}
