import type Redis from 'ioredis';
import { parsePromText, sumOf } from './prom-text';
import { readRedisStats } from './redis-stats';
import type { Sample } from './sample';
import type { ProcessInfo } from './process-table';

/** Options for {@link Sampler}. */
export interface SamplerOptions {
  /** The demo's own Redis connection (reads only). */
  redis: Redis;
  stream: string;
  group: string;
  /** Base URL of the lag exporter, e.g. `http://127.0.0.1:40123`. */
  exporterUrl: string;
  /** Base URL of the autoscaler's ops server. */
  autoscalerUrl: string;
  /** The worker processes alive right now. */
  workers: () => ProcessInfo[];
  /** Timeout of one HTTP request, in ms; default 800. */
  httpTimeoutMs?: number;
}

/** What the lag exporter's /api/v1/backlog gives a sample. */
type Backlog = Pick<Sample, 'outstanding' | 'lag' | 'pending' | 'lagSeconds' | 'oldestPendingSeconds' | 'consumers'>;

const NO_BACKLOG: Backlog = { outstanding: null, lag: null, pending: null, lagSeconds: null, oldestPendingSeconds: null, consumers: null };

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Takes one {@link Sample}: Redis (appended, processed, dead letters), the lag exporter's JSON
 * endpoint (backlog), the autoscaler's metrics (replicas) and the process table (worker processes).
 * Sources that fail give nulls; a sample never throws for a source being down.
 */
export class Sampler {
  private prev: { at: number; added: number; processed: number } | undefined;
  /** Every worker pid seen while sampling. */
  readonly workerPids = new Set<number>();
  /** Highest number of worker processes seen at once. */
  peakWorkers = 0;
  /** Last error per source (for the report), cleared when the source answers again. */
  readonly errors = new Map<string, string>();

  constructor(private readonly opts: SamplerOptions) {}

  async sample(t: number, phase: string, published: number): Promise<Sample> {
    const [stats, backlog, replicas] = await Promise.all([
      readRedisStats(this.opts.redis, this.opts.stream, this.opts.group).then(
        (s) => (this.errors.delete('redis'), s),
        (err: unknown) => (this.errors.set('redis', String(err)), undefined),
      ),
      this.backlog(),
      this.replicas(),
    ]);
    const workers = this.safeWorkers();
    for (const w of workers) this.workerPids.add(w.pid);
    this.peakWorkers = Math.max(this.peakWorkers, workers.length);
    const now = Date.now();
    const added = stats?.entriesAdded ?? this.prev?.added ?? 0;
    const processed = stats?.processedUnique ?? this.prev?.processed ?? 0;
    let inRate: number | null = null;
    let outRate: number | null = null;
    if (this.prev && stats && now > this.prev.at) {
      const dt = (now - this.prev.at) / 1000;
      inRate = Math.max(0, (added - this.prev.added) / dt);
      outRate = Math.max(0, (processed - this.prev.processed) / dt);
    }
    if (stats) this.prev = { at: now, added, processed };
    return {
      t: Math.round(t * 10) / 10,
      phase,
      published,
      added,
      processed,
      deadLetters: stats?.deadLetters ?? 0,
      inRate,
      outRate,
      ...backlog,
      ...replicas,
      running: workers.length,
    };
  }

  private safeWorkers(): ProcessInfo[] {
    try {
      return this.opts.workers();
    } catch (err) {
      this.errors.set('process table', String(err));
      return [];
    }
  }

  private async getText(url: string, source: string): Promise<string | undefined> {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.opts.httpTimeoutMs ?? 800) });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      this.errors.delete(source);
      return text;
    } catch (err) {
      this.errors.set(source, `${url}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  private async backlog(): Promise<Backlog> {
    const q = new URLSearchParams({ stream: this.opts.stream, group: this.opts.group });
    const text = await this.getText(`${this.opts.exporterUrl}/api/v1/backlog?${q.toString()}`, 'lag exporter');
    if (text === undefined) return NO_BACKLOG;
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      return {
        outstanding: numOrNull(j.outstanding),
        lag: numOrNull(j.lag),
        pending: numOrNull(j.pending),
        lagSeconds: numOrNull(j.lagSeconds),
        oldestPendingSeconds: numOrNull(j.oldestPendingSeconds),
        consumers: numOrNull(j.consumers),
      };
    } catch {
      this.errors.set('lag exporter', `not JSON: ${text.slice(0, 200)}`);
      return NO_BACKLOG;
    }
  }

  private async replicas(): Promise<{ desired: number | null; current: number | null }> {
    const text = await this.getText(`${this.opts.autoscalerUrl}/metrics`, 'autoscaler');
    if (text === undefined) return { desired: null, current: null };
    const samples = parsePromText(text);
    return {
      desired: sumOf(samples, 'stream_workers_autoscaler_desired_replicas') ?? null,
      current: sumOf(samples, 'stream_workers_autoscaler_current_replicas') ?? null,
    };
  }
}
