/**
 * Typed configuration from environment variables.
 *
 * A service declares its variables once with the builders below (`str`, `int`, `oneOf`, ...). The same
 * declaration parses `process.env` at start-up (in `main.ts`) and generates the README's configuration
 * table, so documentation and code cannot drift apart. Any unknown or malformed value stops start-up
 * with a {@link ConfigError} that names the variable, the value and what is allowed.
 */

/** Environment-like input: `process.env` in `main.ts`, a plain object in tests. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: how to read it and how to document it. */
export interface VarSpec<T> {
  /** Variable name, e.g. `BATCH_SIZE`. */
  readonly name: string;
  /** One-line description for the README table. */
  readonly description: string;
  /** Default as documented (raw string form), or undefined when there is none. */
  readonly defaultText: string | undefined;
  /**
   * The default value, where it is a constant (not derived from other variables): the one place it
   * is written. Code that needs it (a library option's default) reads it here; the README table and
   * the chart's values are checked against it.
   */
  readonly defaultValue?: T;
  /** Numeric variables: the smallest and largest value allowed (the chart's schema is checked against them). */
  readonly min?: number;
  /** Numeric variables: the largest value allowed. */
  readonly max?: number;
  /** Human description of what is allowed, used in error messages and docs. */
  readonly allowed: string;
  /** Parses the raw value (undefined when unset or empty). Throws {@link ConfigError}. */
  parse(raw: string | undefined, env: Env): T;
}

/**
 * A {@link VarSpec} whose rule also checks a value passed in code (a library option such as
 * `createWorker({ batchSize })`) instead of an environment string: one definition for both, checked
 * with {@link checkOption}.
 */
export interface CheckedVarSpec<T> extends VarSpec<T> {
  /** What `typeof` a value passed in code must give. */
  readonly type: 'number' | 'string';
  /** True when a value of that type is allowed: the rule `parse` applies to a set variable. */
  accepts(value: T): boolean;
}

/** A malformed configuration value. The message names the variable, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    /** The environment variable. */
    readonly variable: string,
    /** The value it had (undefined: not set). */
    readonly value: string | undefined,
    /** What is allowed, in words. */
    readonly allowed: string,
  ) {
    super(
      value === undefined
        ? `${variable} is required (${allowed})`
        : `${variable}=${JSON.stringify(value)} is invalid: expected ${allowed}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * A combination of variables that is not allowed, though each value may be fine alone (two topologies
 * at once, a certificate without its key): the message names every variable involved.
 */
export class ConfigConflictError extends ConfigError {
  constructor(
    /** The variables involved. */
    readonly variables: readonly string[],
    /** What is wrong and what to do. */
    reason: string,
  ) {
    super(variables.join(', '), undefined, reason);
    this.message = `${variables.join(' with ')}: ${reason}`;
    this.name = 'ConfigConflictError';
  }
}

/** What every variable spec takes: its description and how its default is found. */
export interface BaseOptions<T> {
  /** What the variable does (the README's table shows it). */
  description: string;
  /** Default value used when the variable is unset or empty. */
  default?: T;
  /** Default documented in the README when it is computed (e.g. `$POD_NAME, else the hostname`). */
  defaultText?: string;
  /** Computes the default from other variables (e.g. `DEAD_LETTER_STREAM` from `STREAM`). */
  derive?: (env: Env) => T;
}

function spec<T>(
  name: string,
  allowed: string,
  opts: BaseOptions<T>,
  convert: (raw: string) => T | undefined,
): VarSpec<T> {
  const defaultText =
    opts.defaultText ?? (opts.default === undefined ? undefined : formatDefault(opts.default));
  return {
    name,
    description: opts.description,
    defaultText,
    ...(opts.default !== undefined ? { defaultValue: opts.default } : {}),
    allowed,
    parse(raw, env) {
      if (raw === undefined || raw.trim() === '') {
        if (opts.derive) return opts.derive(env);
        if (opts.default !== undefined) return opts.default;
        throw new ConfigError(name, undefined, allowed);
      }
      const value = convert(raw.trim());
      if (value === undefined) throw new ConfigError(name, raw, allowed);
      return value;
    },
  };
}

/**
 * A string spec: a value passed in code is allowed when parsing it as a variable would give it back
 * unchanged (non-empty, no surrounding blanks, and `convert` keeps it), so both share `convert`.
 */
function stringSpec<T extends string>(name: string, allowed: string, opts: BaseOptions<T>, convert: (raw: string) => T | undefined): CheckedVarSpec<T> {
  return { ...spec(name, allowed, opts, convert), type: 'string', accepts: (v) => v.trim() !== '' && convert(v.trim()) === v };
}

function formatDefault(v: unknown): string {
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

/** A non-empty string, optionally restricted by a pattern. */
export function str(
  name: string,
  opts: BaseOptions<string> & { pattern?: RegExp; patternText?: string },
): CheckedVarSpec<string> {
  const allowed = opts.patternText ?? (opts.pattern ? `a string matching ${opts.pattern}` : 'a non-empty string');
  return stringSpec(name, allowed, opts, (raw) => (opts.pattern && !opts.pattern.test(raw) ? undefined : raw));
}

/** An optional string: unset stays `undefined`. */
export function optionalStr(name: string, opts: { description: string; defaultText?: string }): VarSpec<string | undefined> {
  return {
    name,
    description: opts.description,
    defaultText: opts.defaultText,
    allowed: 'a string',
    parse: (raw) => (raw === undefined || raw.trim() === '' ? undefined : raw.trim()),
  };
}

/** An integer within [min, max] (decimal digits only: `1e3`, `12abc` and `1.5` are rejected). */
export function int(name: string, opts: BaseOptions<number> & { min?: number; max?: number; unit?: string }): CheckedVarSpec<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` from ${min} to ${max}`
      : opts.min !== undefined
        ? ` ≥ ${min}`
        : opts.max !== undefined
          ? ` ≤ ${max}`
          : '';
  const allowed = `an integer${range}${opts.unit ? ` (${opts.unit})` : ''}`;
  const accepts = (n: number): boolean => Number.isSafeInteger(n) && n >= min && n <= max;
  const parsed = spec(name, allowed, opts, (raw) => (/^-?\d+$/.test(raw) && accepts(Number(raw)) ? Number(raw) : undefined));
  return { ...parsed, type: 'number', accepts, ...(opts.min !== undefined ? { min } : {}), ...(opts.max !== undefined ? { max } : {}) };
}

/** A finite number within [min, max]. */
export function num(name: string, opts: BaseOptions<number> & { min?: number; max?: number }): CheckedVarSpec<number> {
  const min = opts.min ?? -Infinity;
  const max = opts.max ?? Infinity;
  const allowed = `a number${Number.isFinite(min) ? ` ≥ ${min}` : ''}${Number.isFinite(max) ? ` and ≤ ${max}` : ''}`;
  const accepts = (n: number): boolean => Number.isFinite(n) && n >= min && n <= max;
  const parsed = spec(name, allowed, opts, (raw) => (/^-?(\d+\.?\d*|\.\d+)$/.test(raw) && accepts(Number(raw)) ? Number(raw) : undefined));
  return { ...parsed, type: 'number', accepts, ...(opts.min !== undefined ? { min } : {}), ...(opts.max !== undefined ? { max } : {}) };
}

/** One of a fixed set of values. */
export function oneOf<const T extends string>(name: string, values: readonly T[], opts: BaseOptions<T>): CheckedVarSpec<T> {
  return stringSpec(name, `one of ${values.join(', ')}`, opts, (raw) => (values as readonly string[]).includes(raw) ? (raw as T) : undefined);
}

/** A boolean: true/false, 1/0, yes/no. */
export function bool(name: string, opts: BaseOptions<boolean>): VarSpec<boolean> {
  return spec(name, 'true or false', opts, (raw) => {
    const v = raw.toLowerCase();
    if (['true', '1', 'yes'].includes(v)) return true;
    if (['false', '0', 'no'].includes(v)) return false;
    return undefined;
  });
}

/** A comma separated list of non-empty items, each optionally matching a pattern. */
export function list(name: string, opts: BaseOptions<string[]> & { item?: RegExp; itemText?: string }): VarSpec<string[]> {
  const allowed = `a comma separated list of ${opts.itemText ?? 'non-empty names'}`;
  return spec(name, allowed, opts, (raw) => {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    if (items.length === 0) return undefined;
    if (opts.item && items.some((s) => !opts.item!.test(s))) return undefined;
    return items;
  });
}

/** A Redis URL: `redis://` or `rediss://` (TLS), with optional `user:password@`, host, port and `/db`. */
export function redisUrl(name: string, opts: BaseOptions<string>): CheckedVarSpec<string> {
  return stringSpec(name, 'a URL redis://[user:password@]host[:port][/db] or rediss://… for TLS', opts, (raw) => {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return undefined;
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return undefined;
    if (!u.hostname) return undefined;
    if (u.pathname && u.pathname !== '/' && !/^\/\d+$/.test(u.pathname)) return undefined;
    return raw;
  });
}

/** The constant default of a variable (its {@link VarSpec.defaultValue}); throws when it has none (a bug). */
export function defaultOf<T>(spec: VarSpec<T>): T {
  if (spec.defaultValue === undefined) throw new Error(`${spec.name} has no constant default`);
  return spec.defaultValue;
}

/** pino's levels, accepted by `LOG_LEVEL`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino level name (`LOG_LEVEL`). */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A variable that is documented (a row of the README table) but parsed by another spec that reads
 * several variables together (the Redis settings, under `REDIS_URL`): it fills no property of the config.
 */
export interface ReadWithSpec extends VarSpec<undefined> {
  /** The variable whose spec parses this one. */
  readonly readWith: string;
}

/** The specs of a config object, keyed by the property they fill. */
export type ConfigSpec = Record<string, VarSpec<unknown>>;
/** The typed object a {@link ConfigSpec} parses into ({@link ReadWithSpec}s fill nothing). */
export type ConfigOf<S extends ConfigSpec> = { [K in keyof S as S[K] extends ReadWithSpec ? never : K]: S[K] extends VarSpec<infer T> ? T : never };

/** A set of variables that parses into a typed object. */
export interface ConfigDefinition<S extends ConfigSpec> {
  /** The service the variables configure (named in errors and docs). */
  readonly service: string;
  /** The variables' specs, keyed by the property each fills. */
  readonly specs: S;
  /** Parses `env`, collecting every error; throws one {@link ConfigErrors} naming all bad variables. */
  parse(env: Env): ConfigOf<S>;
}

/** Several malformed variables at once. */
export class ConfigErrors extends Error {
  /** @param errors Every malformed variable, in spec order. */
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'ConfigErrors';
  }
}

/**
 * The variables of a service. `check` validates what one variable alone cannot (e.g. `MAX_REPLICAS`
 * ≥ `MIN_REPLICAS`): it runs once every variable parsed, and returns the errors it finds.
 */
export function defineConfig<S extends ConfigSpec>(service: string, specs: S, check?: (config: ConfigOf<S>) => ConfigError[]): ConfigDefinition<S> {
  return {
    service,
    specs,
    parse(env) {
      const out: Record<string, unknown> = {};
      const errors: ConfigError[] = [];
      for (const [key, s] of Object.entries(specs)) {
        if ('readWith' in s) continue;
        try {
          out[key] = s.parse(env[s.name], env);
        } catch (err) {
          // A spec that reads several variables (the Redis settings) may report several errors at once.
          if (err instanceof ConfigError) errors.push(err);
          else if (err instanceof ConfigErrors) errors.push(...err.errors);
          else throw err;
        }
      }
      if (errors.length === 0 && check) errors.push(...check(out as ConfigOf<S>));
      if (errors.length > 0) throw new ConfigErrors(errors);
      return out as ConfigOf<S>;
    },
  };
}

/** Renders a definition as a Markdown table (used for the README; checked by a test). */
export function configTable(def: ConfigDefinition<ConfigSpec>): string {
  const rows = Object.values(def.specs).map((s) => {
    const d = s.defaultText === undefined ? '—' : s.defaultText === '' ? '(empty)' : '`' + s.defaultText + '`';
    return `| \`${s.name}\` | ${d} | ${s.description}. Allowed: ${s.allowed}. |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

// Options passed in code are checked against the same specs (option-check.ts); the variables every
// service reads are in common-specs.ts.
export { checkOption, kindOf } from './option-check';
export { DEFAULT_GROUP, DEFAULT_STREAM, commonSpecs } from './common-specs';
