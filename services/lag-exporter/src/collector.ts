import type Redis from 'ioredis';
import type { Metric, Registry } from 'prom-client';
import {
  DEFAULT_COUNT_LIMIT,
  METRIC_PREFIX,
  discoverStreams,
  errorFields,
  readAllBacklogs,
  type GroupBacklog,
  type Logger,
  type StreamBacklogs,
} from '@stream-workers/core';

/** Options for {@link LagCollector}. */
export interface LagCollectorOptions {
  /** A `command` connection (core `createRedis`). */
  redis: Redis;
  /** The registry the metrics are registered in (never the global one). */
  registry: Registry;
  logger: Logger;
  /** Stream names or Redis glob patterns (`*`, `orders:*`). */
  streams: string[];
  /** Only these groups (exact names); default (or empty) all. */
  groups?: string[];
  /** Deadline of one scrape's Redis work in ms; default 5000. */
  scrapeTimeoutMs?: number;
  /**
   * How long the names matched by glob patterns are reused before the next `SCAN`, in ms; default
   * 30000; 0 = every scrape. Plain names are read at every scrape; values are always read at scrape time.
   */
  discoveryIntervalMs?: number;
  /** Most entries counted per group whose lag Redis does not give; default 100 (core `DEFAULT_COUNT_LIMIT`). */
  countLimit?: number;
  /** Clock in ms (tests); default `Date.now`. */
  now?: () => number;
  /** How Redis is read (core `readAllBacklogs`): `auto` (default: one Lua script per stream, plain commands where refused) or `commands`. */
  mode?: 'auto' | 'commands';
}

/** What one scrape read. */
export type ScrapeOutcome =
  | { ok: true; streams: StreamBacklogs[]; durationSeconds: number }
  | { ok: false; error: string; durationSeconds: number };

const GLOB = /[*?[\]\\]/;

/**
 * One sample as prom-client renders it. The labels go in `sharedLabels` (prom-client's own field for
 * label sets shared by several samples, e.g. a histogram's buckets): it renders them once per label
 * object and caches the text, which makes a scrape of thousands of series ~7× cheaper than
 * `Gauge.set` + per-sample formatting. The label objects are therefore kept across scrapes
 * ({@link LabelCache}). The tests parse the rendered text, so a change in prom-client shows there.
 */
interface Sample {
  value: number;
  labels: Record<string, never>;
  sharedLabels?: Record<string, string>;
}
const NO_LABELS: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** Label objects reused across scrapes (see {@link Sample}); entries unused in a scrape are dropped at the next. */
function labelCache() {
  let streams = new Map<string, Record<string, string>>();
  let groups = new Map<string, Record<string, string>>();
  let nextStreams = new Map<string, Record<string, string>>();
  let nextGroups = new Map<string, Record<string, string>>();
  return {
    stream(stream: string): Record<string, string> {
      const l = nextStreams.get(stream) ?? streams.get(stream) ?? { stream };
      nextStreams.set(stream, l);
      return l;
    },
    group(stream: string, group: string): Record<string, string> {
      const k = `${stream}\u0000${group}`;
      const l = nextGroups.get(k) ?? groups.get(k) ?? { stream, group };
      nextGroups.set(k, l);
      return l;
    },
    /** Starts a new scrape: what was used in the last one stays available, the rest is dropped. */
    rotate(): void {
      streams = nextStreams;
      groups = nextGroups;
      nextStreams = new Map();
      nextGroups = new Map();
    },
  };
}

/** Metric → help, and how a backlog fills it. Names are fixed by DESIGN.md ("Metrics"). */
const GROUP_METRICS: Array<{ name: string; help: string; value: (b: GroupBacklog) => number }> = [
  { name: 'group_lag', help: 'Entries not yet delivered to the consumer group (Redis lag; estimated where group_lag_estimated is 1)', value: (b) => b.lag },
  { name: 'group_lag_seconds', help: 'Age in seconds of the oldest entry not yet delivered to the group, from its stream id; 0 when none', value: (b) => b.lagSeconds },
  { name: 'group_pending', help: 'Entries delivered to a consumer of the group and not acknowledged', value: (b) => b.pending },
  { name: 'group_oldest_pending_seconds', help: 'Age in seconds of the oldest pending entry of the group, from its stream id; 0 when none', value: (b) => b.oldestPendingSeconds },
  { name: 'group_outstanding', help: 'Entries waiting for the group: lag + pending (the autoscaling signal)', value: (b) => b.outstanding },
  { name: 'group_consumers', help: 'Consumers registered in the group', value: (b) => b.consumers },
  { name: 'group_lag_estimated', help: '1 where Redis reports no exact lag (NULL after XDEL, an inconsistent value after XTRIM, Redis < 7) and group_lag is computed or estimated by the exporter', value: (b) => (b.lagEstimated ? 1 : 0) },
];

/**
 * The exporter's metrics, read from Redis in prom-client `collect()` at scrape time: no background
 * loop, no cache of values. One scrape is one {@link readAllBacklogs} (two pipelined round trips)
 * under a deadline; the collect() calls of one scrape, and of scrapes that overlap it, share that read,
 * so every series of a scrape comes from the same moment. When the read fails or times out the scrape
 * shows `exporter_up 0` and no stream or group series (never stale ones).
 */
export class LagCollector {
  private readonly timeoutMs: number;
  private readonly discoveryIntervalMs: number;
  private readonly countLimit: number;
  private readonly now: () => number;
  private readonly literals: string[];
  private readonly patterns: string[];
  private discovered: { names: string[]; atMs: number } | undefined;
  private inflight: Promise<ScrapeOutcome> | undefined;
  private failing = false;
  private readonly labels = labelCache();
  private readonly rows = new WeakMap<ScrapeOutcome, Array<{ backlog: GroupBacklog; labels: Record<string, string> }>>();
  private closed = false;
  /** The last scrape's outcome (tests, logs). */
  last: ScrapeOutcome | undefined;

  constructor(private readonly opts: LagCollectorOptions) {
    this.timeoutMs = opts.scrapeTimeoutMs ?? 5000;
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? 30_000;
    this.countLimit = opts.countLimit ?? DEFAULT_COUNT_LIMIT;
    this.now = opts.now ?? Date.now;
    this.literals = opts.streams.filter((s) => !GLOB.test(s));
    this.patterns = opts.streams.filter((s) => GLOB.test(s));
    const gauge = (name: string, help: string, values: (o: ScrapeOutcome) => Sample[]) => {
      const full = `${METRIC_PREFIX}${name}`;
      const metric = {
        name: full,
        help,
        type: 'gauge',
        aggregator: 'sum',
        get: async () => ({ name: full, help, type: 'gauge', aggregator: 'sum', values: values(await this.scrape()) }),
      };
      // A prom-client metric is any object with name/help/type/get(); the Metric type lists only its own classes.
      opts.registry.registerMetric(metric as unknown as Metric);
    };
    gauge('exporter_up', '1 when the last scrape read Redis within SCRAPE_TIMEOUT_MS, else 0 (and no stream or group series)', (o) => [
      { value: o.ok ? 1 : 0, labels: NO_LABELS },
    ]);
    gauge('exporter_scrape_duration_seconds', 'Duration of the Redis reads (discovery included) of this scrape, in seconds', (o) => [
      { value: o.durationSeconds, labels: NO_LABELS },
    ]);
    gauge('stream_length', 'Entries in the stream (XLEN)', (o) =>
      o.ok ? o.streams.map((st) => ({ value: st.length, labels: NO_LABELS, sharedLabels: this.labels.stream(st.stream) })) : [],
    );
    for (const m of GROUP_METRICS) {
      gauge(m.name, m.help, (o) => {
        if (!o.ok) return [];
        const rows = this.groupRows(o);
        const out = new Array<Sample>(rows.length);
        for (let i = 0; i < rows.length; i++) out[i] = { value: m.value(rows[i]!.backlog), labels: NO_LABELS, sharedLabels: rows[i]!.labels };
        return out;
      });
    }
  }

  /** The groups of a scrape with their label objects, looked up once per scrape (not once per metric). */
  private groupRows(o: ScrapeOutcome & { ok: true }): Array<{ backlog: GroupBacklog; labels: Record<string, string> }> {
    let rows = this.rows.get(o);
    if (!rows) {
      rows = [];
      for (const st of o.streams) for (const g of st.groups) rows.push({ backlog: g, labels: this.labels.group(g.stream, g.group) });
      this.rows.set(o, rows);
    }
    return rows;
  }

  /**
   * Reads every stream and group now, or joins the read already in flight (the collect() calls of
   * one scrape start within the same tick, so they share one read). Never rejects.
   */
  scrape(): Promise<ScrapeOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'exporter is shutting down', durationSeconds: 0 });
    if (!this.inflight) {
      this.labels.rotate();
      const p = this.readWithDeadline();
      this.inflight = p;
      void p.finally(() => {
        if (this.inflight === p) this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Stops answering scrapes with Redis reads (they report `exporter_up 0`). Idempotent. */
  close(): void {
    this.closed = true;
  }

  private async readWithDeadline(): Promise<ScrapeOutcome> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scrape timed out after ${this.timeoutMs} ms (SCRAPE_TIMEOUT_MS)`)), this.timeoutMs);
      timer.unref();
    });
    const read = this.read();
    read.catch(() => undefined); // a read abandoned by the deadline may still fail later
    let outcome: ScrapeOutcome;
    try {
      const streams = await Promise.race([read, deadline]);
      outcome = { ok: true, streams, durationSeconds: (performance.now() - started) / 1000 };
    } catch (err) {
      outcome = { ok: false, error: err instanceof Error ? err.message : String(err), durationSeconds: (performance.now() - started) / 1000 };
      if (!this.failing) this.opts.logger.warn({ ...errorFields(err) }, 'scrape failed: exporting exporter_up 0 without stream or group series until Redis answers');
    } finally {
      clearTimeout(timer);
    }
    if (outcome.ok && this.failing) this.opts.logger.info({ streams: outcome.streams.length }, 'scrape succeeded again');
    this.failing = !outcome.ok;
    this.last = outcome;
    return outcome;
  }

  private async read(): Promise<StreamBacklogs[]> {
    const names = new Set(this.literals);
    if (this.patterns.length > 0) {
      const now = this.now();
      if (!this.discovered || this.discoveryIntervalMs === 0 || now - this.discovered.atMs >= this.discoveryIntervalMs) {
        const found = await discoverStreams(this.opts.redis, this.patterns);
        if (this.discovered && found.length !== this.discovered.names.length) {
          this.opts.logger.info({ streams: found.length, before: this.discovered.names.length }, 'discovered streams changed');
        }
        this.discovered = { names: found, atMs: now };
      }
      for (const n of this.discovered.names) names.add(n);
    }
    const groups = this.opts.groups && this.opts.groups.length > 0 ? this.opts.groups : undefined;
    return readAllBacklogs(this.opts.redis, [...names].sort(), { ...(groups ? { groups } : {}), countLimit: this.countLimit, ...(this.opts.mode ? { mode: this.opts.mode } : {}), ...(this.opts.now ? { nowMs: this.opts.now() } : {}) });
  }
}
