import { ConfigError, SCALING_MODES, type ScalingMode } from '@stream-workers/core';

/**
 * The POOLS document: one autoscaler serving several worker pools (the chart's `workers:` map). A
 * JSON array, one object per pool; every field is checked here, at the edge, and a bad one stops
 * start-up with an error naming its path (`POOLS[1].maxReplicas="x" is invalid: expected …`).
 */
export interface PoolSpec {
  /** The pool's name: the `pool` label of the metrics and the log lines. */
  name: string;
  stream: string;
  group: string;
  /** The Deployment scaled (rendered by the chart, or the user's own: `external.deploymentName`). */
  deployment: string;
  /** Label selector of the pool's pods, for the janitor; undefined = no janitor for this pool. */
  podSelector: string | undefined;
  /** `lag` (KEDA parity) or `rate` (arrival and service rates): SCALING_MODE per pool. */
  scalingMode: ScalingMode;
  targetPerReplica: number;
  /** Rate mode: TARGET_DRAIN_S, TARGET_LAG_SECONDS (undefined = none) and RATE_WINDOW_S of the pool. */
  targetDrainS: number;
  targetLagSeconds: number | undefined;
  rateWindowS: number;
  /** ACTIVATION_WATCH of the pool (used only with minReplicas 0). */
  activationWatch: boolean;
  activation: number;
  minReplicas: number;
  maxReplicas: number;
  pollIntervalMs: number;
  cooldownS: number;
  scaleDownWindowS: number;
  fallbackReplicas: number | undefined;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const STREAM_NAME = /^[^\s*?[\]]+$/;
const SELECTOR = /^[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*(,[A-Za-z0-9._/-]+=[A-Za-z0-9._-]*)*$/;

type Field<T> = { parse(v: unknown): T | undefined; allowed: string; optional?: boolean };

const text = (pattern: RegExp, allowed: string): Field<string> => ({
  allowed,
  parse: (v) => (typeof v === 'string' && v.length > 0 && v.length <= 253 && pattern.test(v) ? v : undefined),
});
const integer = (min: number, max: number, unit?: string): Field<number> => ({
  allowed: `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`,
  parse: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined),
});
const flag: Field<boolean> = { allowed: 'true or false', parse: (v) => (typeof v === 'boolean' ? v : undefined) };
const mode: Field<ScalingMode> = {
  allowed: `one of ${SCALING_MODES.join(', ')}`,
  parse: (v) => SCALING_MODES.find((m) => m === v),
};
const optional = <T>(f: Field<T>): Field<T | undefined> => ({ ...f, optional: true });

const FIELDS: { [K in keyof PoolSpec]: Field<PoolSpec[K]> } = {
  name: text(NAME, 'a pool name (lower case, digits, -)'),
  stream: text(STREAM_NAME, 'a stream name without spaces or glob characters'),
  group: text(/^\S+$/, 'a consumer group name without spaces'),
  deployment: text(NAME, 'a Kubernetes object name (lower case, digits, -)'),
  podSelector: optional(text(SELECTOR, 'a label selector of key=value pairs separated by commas')),
  scalingMode: mode,
  targetPerReplica: integer(1, Number.MAX_SAFE_INTEGER),
  targetDrainS: integer(1, Number.MAX_SAFE_INTEGER, 's'),
  targetLagSeconds: optional(integer(1, Number.MAX_SAFE_INTEGER, 's')),
  rateWindowS: integer(1, 600, 's'),
  activationWatch: flag,
  activation: integer(0, Number.MAX_SAFE_INTEGER),
  minReplicas: integer(0, 10_000),
  maxReplicas: integer(1, 10_000),
  pollIntervalMs: integer(100, 600_000, 'ms'),
  cooldownS: integer(0, Number.MAX_SAFE_INTEGER, 's'),
  scaleDownWindowS: integer(0, Number.MAX_SAFE_INTEGER, 's'),
  fallbackReplicas: optional(integer(1, 10_000)),
};

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));

/** One pool object of the document; `path` is its place (`POOLS[2]`) for the errors. */
function parsePool(raw: unknown, path: string): PoolSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(path, show(raw), 'an object with the pool fields');
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !(k in FIELDS));
  if (unknown.length > 0) throw new ConfigError(`${path}.${unknown[0]}`, show(obj[unknown[0]!]), `no such field (allowed: ${Object.keys(FIELDS).join(', ')})`);
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FIELDS) as Array<[string, Field<unknown>]>) {
    const v = obj[key];
    if (v === undefined || v === null) {
      if (!field.optional) throw new ConfigError(`${path}.${key}`, undefined, field.allowed);
      out[key] = undefined;
      continue;
    }
    const parsed = field.parse(v);
    if (parsed === undefined) throw new ConfigError(`${path}.${key}`, show(v), field.allowed);
    out[key] = parsed;
  }
  const pool = out as unknown as PoolSpec;
  if (pool.maxReplicas < pool.minReplicas) throw new ConfigError(`${path}.maxReplicas`, String(pool.maxReplicas), `an integer ≥ minReplicas (${pool.minReplicas})`);
  return pool;
}

/**
 * Parses the POOLS variable: a non-empty JSON array of pools, names unique, each stream and group
 * pair and each Deployment served once (two loops scaling one Deployment would fight).
 */
export function parsePools(raw: string, variable = 'POOLS'): PoolSpec[] {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(variable, raw.slice(0, 80), `a JSON array of pools (${(err as Error).message})`);
  }
  if (!Array.isArray(doc) || doc.length === 0) throw new ConfigError(variable, raw.slice(0, 80), 'a non-empty JSON array of pools');
  const pools = doc.map((p, i) => parsePool(p, `${variable}[${i}]`));
  const seen = new Map<string, number>();
  pools.forEach((p, i) => {
    for (const [what, key] of [['name', `name:${p.name}`], ['deployment', `deployment:${p.deployment}`], ['group', `group:${p.stream}\u0000${p.group}`]] as const) {
      const first = seen.get(key);
      if (first !== undefined) {
        const value = what === 'group' ? `${p.stream}/${p.group}` : p[what];
        throw new ConfigError(`${variable}[${i}].${what}`, value, `a ${what === 'group' ? 'stream and group' : what} not already served by ${variable}[${first}]`);
      }
      seen.set(key, i);
    }
  });
  return pools;
}
