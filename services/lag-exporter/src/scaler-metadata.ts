/**
 * The trigger metadata of the KEDA external scaler (`ScaledObjectRef.scalerMetadata`), validated at
 * the edge: every problem names the field, and the gRPC answer is INVALID_ARGUMENT with that text.
 */

/** `outstanding`: lag + pending, as the metrics-api mode; `rate`: arrivals plus the drain of the waiting entries, per second. */
export type ScalerMetric = 'outstanding' | 'rate';

export interface ScalerMetadata {
  stream: string;
  group: string;
  metric: ScalerMetric;
  /** Per replica: outstanding entries (metric outstanding) or entries/s one replica processes (metric rate). */
  targetValue: number;
  /** Active when the metric's value is strictly above this; default 0. */
  activationValue: number;
  /** metric rate: waiting entries are to be drained within this many seconds; default 30. */
  drainSeconds: number;
}

/** What a field must be, for the error text. */
export class MetadataError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`scalerMetadata.${field}: ${detail}`);
    this.name = 'MetadataError';
  }
}

const DEFAULTS = { metric: 'outstanding' as ScalerMetric, activationValue: 0, drainSeconds: 30 };
const KNOWN = new Set(['stream', 'group', 'metric', 'targetValue', 'activationValue', 'drainSeconds']);

function number(meta: Record<string, string>, field: string, min: number, exclusive: boolean, fallback?: number): number {
  const raw = meta[field];
  if (raw === undefined || raw.trim() === '') {
    if (fallback !== undefined) return fallback;
    throw new MetadataError(field, `required: a number ${exclusive ? '>' : '≥'} ${min}`);
  }
  const n = /^\s*-?(\d+\.?\d*|\.\d+)\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n) || (exclusive ? n <= min : n < min)) {
    throw new MetadataError(field, `${JSON.stringify(raw)} is invalid: expected a number ${exclusive ? '>' : '≥'} ${min}`);
  }
  return n;
}

/** Parses and checks the metadata; throws a {@link MetadataError} naming the first bad field. */
export function parseScalerMetadata(meta: Record<string, string> | undefined): ScalerMetadata {
  const m = meta ?? {};
  for (const key of Object.keys(m)) {
    if (!KNOWN.has(key)) throw new MetadataError(key, `unknown field (known: ${[...KNOWN].join(', ')})`);
  }
  const text = (field: 'stream' | 'group'): string => {
    const v = m[field]?.trim();
    if (!v) throw new MetadataError(field, 'required: a non-empty name');
    if (field === 'stream' && /[\s*?[\]]/.test(v)) throw new MetadataError(field, `${JSON.stringify(v)} is invalid: expected a stream name without spaces or glob characters`);
    return v;
  };
  const metricRaw = m.metric?.trim() || DEFAULTS.metric;
  if (metricRaw !== 'outstanding' && metricRaw !== 'rate') {
    throw new MetadataError('metric', `${JSON.stringify(metricRaw)} is invalid: expected outstanding or rate`);
  }
  return {
    stream: text('stream'),
    group: text('group'),
    metric: metricRaw,
    targetValue: number(m, 'targetValue', 0, true),
    activationValue: number(m, 'activationValue', 0, false, DEFAULTS.activationValue),
    drainSeconds: number(m, 'drainSeconds', 0, true, DEFAULTS.drainSeconds),
  };
}

/** The metric name KEDA gives its HPA (KEDA prefixes it with the trigger index). */
export function metricName(m: Pick<ScalerMetadata, 'stream' | 'group' | 'metric'>): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
  return `stream-workers-${m.metric}-${clean(m.stream)}-${clean(m.group)}`.slice(0, 200);
}
