import type Redis from 'ioredis';
import type { Metric, Registry } from 'prom-client';
import {
  DEFAULT_COUNT_LIMIT,
  METRIC_PREFIX,
  discoverStreams,
  errorFields,
  readAllBacklogs,
  readAllBacklogsOver,
  type GroupBacklog,
  type Logger,
  type StreamBacklogs,
} from '@stream-workers/core';
import { RespConnection, respOptionsOf } from './resp-connection';

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
  /**
   * How a scrape reads Redis. `resp` (default): plain commands (core `readAllBacklogsOver`) on a
   * connection of its own to the server of `redis` ({@link RespConnection}: the cheapest to decode);
   * where that connection cannot follow `redis` (Sentinel, Cluster), `auto`. `auto` and `commands`:
   * core `readAllBacklogs` on `redis` itself (`auto`: Lua scripts, plain commands where refused).
   */
  mode?: 'resp' | 'auto' | 'commands';
}

/** What one scrape read. */
export type ScrapeOutcome =
  | { ok: true; streams: StreamBacklogs[]; durationSeconds: number }
  | { ok: false; error: string; durationSeconds: number };

const GLOB = /[*?[\]\\]/;

/** A label set as prom-client passes it (the JSON view, {@link GaugeSnapshot}). */
type Labels = Record<string, string>;
const NO_LABELS: Record<string, never> = Object.freeze({}) as Record<string, never>;

/** What a prom-client metric's `get()` resolves to. */
interface GaugeSnapshot {
  name: string;
  help: string;
  type: 'gauge';
  aggregator: 'sum';
  values: Array<{ value: number; labels: Labels | Record<string, never>; sharedLabels?: Record<string, never>; metricName?: string }>;
}

/** prom-client's label value escaping (`\` → `\\`, newline → `\n`, `"` → `\"`). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** prom-client's number formatting. */
export function formatSampleValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/** Metric → help, and how a backlog fills it. Names are fixed by docs/design.md ("Metrics"). */
const GROUP_METRICS: Array<{ name: string; help: string; value: (b: GroupBacklog) => number }> = [
  { name: 'group_lag', help: 'Entries not yet delivered to the consumer group (Redis lag; estimated where group_lag_estimated is 1)', value: (b) => b.lag },
  { name: 'group_lag_seconds', help: 'Age in seconds of the oldest entry not yet delivered to the group, from its stream id; 0 when none', value: (b) => b.lagSeconds },
  { name: 'group_pending', help: 'Entries delivered to a consumer of the group and not acknowledged', value: (b) => b.pending },
  { name: 'group_oldest_pending_seconds', help: 'Age in seconds of the oldest pending entry of the group, from its stream id; 0 when none', value: (b) => b.oldestPendingSeconds },
  { name: 'group_outstanding', help: 'Entries waiting for the group: lag + pending (the autoscaling signal)', value: (b) => b.outstanding },
  { name: 'group_consumers', help: 'Consumers registered in the group', value: (b) => b.consumers },
  { name: 'group_lag_estimated', help: '1 where Redis reports no exact lag (NULL after XDEL, an inconsistent value after XTRIM, Redis < 7) and group_lag is computed or estimated by the exporter', value: (b) => (b.lagEstimated ? 1 : 0) },
];
const GROUP_NAMES = GROUP_METRICS.map((m) => `${METRIC_PREFIX}${m.name}`);
const STREAM_LENGTH = `${METRIC_PREFIX}stream_length`;

/**
 * The sample lines of one series set (a stream's `stream_length`, or a group's seven metrics): the text
 * in front of each value, escaped once, and the last line written with the value it was written for,
 * reused while the value stays the same (most do from one scrape to the next).
 */
class SeriesLines {
  readonly lines: string[];
  private readonly values: number[];
  used: number;

  constructor(
    private readonly prefixes: string[],
    scrape: number,
  ) {
    this.lines = prefixes.map(() => '');
    this.values = prefixes.map(() => NaN);
    this.used = scrape;
  }

  /** The line `<prefix> <value>\n` of metric `m`. */
  line(m: number, value: number): string {
    if (this.values[m] === value) return this.lines[m]!;
    const line = `${this.prefixes[m]} ${formatSampleValue(value)}\n`;
    this.values[m] = value;
    this.lines[m] = line;
    return line;
  }
}

/** A stream's series and its groups'. */
interface StreamSeries {
  length: SeriesLines;
  groups: Map<string, SeriesLines>;
}

/**
 * The series of every stream and group, kept across scrapes; what a scrape did not use is dropped when
 * the next one starts.
 */
class SeriesText {
  private readonly streams = new Map<string, StreamSeries>();
  private scrape = 0;

  stream(stream: string): StreamSeries {
    let s = this.streams.get(stream);
    if (!s) {
      s = { length: new SeriesLines([`${STREAM_LENGTH}{stream="${escapeLabelValue(stream)}"}`], this.scrape), groups: new Map() };
      this.streams.set(stream, s);
    }
    s.length.used = this.scrape;
    return s;
  }

  /** The group's lines, one per entry of {@link GROUP_METRICS}. */
  group(s: StreamSeries, stream: string, group: string): SeriesLines {
    let g = s.groups.get(group);
    if (!g) {
      const labels = `{stream="${escapeLabelValue(stream)}",group="${escapeLabelValue(group)}"}`;
      g = new SeriesLines(
        GROUP_NAMES.map((n) => n + labels),
        this.scrape,
      );
      s.groups.set(group, g);
    }
    g.used = this.scrape;
    return g;
  }

  /** Starts a new scrape: what the last one used stays, the rest is dropped. */
  rotate(): void {
    const last = this.scrape;
    this.scrape += 1;
    for (const [name, s] of this.streams) {
      if (s.length.used < last) this.streams.delete(name);
      else for (const [g, v] of s.groups) if (v.used < last) s.groups.delete(g);
    }
  }
}

/**
 * The samples of one metric in prom-client's `getForPromString()` form: a single value whose
 * `metricName` carries every sample line but the last one's value. prom-client writes
 * `${metricName} ${value}` for a value without labels, so the exposition is byte for byte what it
 * would render from one value per series (test/render.test.ts compares both), at a fraction of the
 * cost: no label objects to format per sample, no per-sample arrays and template strings.
 */
interface RenderedMetric {
  metricName: string;
  value: number;
}

/** The stream and group series of one scrape as text (undefined: no series). */
interface RenderedScrape {
  streamLength: RenderedMetric | undefined;
  groups: Array<RenderedMetric | undefined>;
}

/**
 * Renders the stream and group series of one scrape, every metric in one pass over the groups, part
 * by part as the read delivers them (`onStreams` of core `readAllBacklogsOver` and `readAllBacklogs`):
 * the text of one part is written while Redis reads the next.
 */
class ScrapeText {
  /** Per metric (the group metrics, then `stream_length`), the lines of the parts so far. */
  private readonly text: string[] = [...GROUP_METRICS.map(() => ''), ''];
  /** Per metric, the value of its last line. */
  private readonly last: number[] = [...GROUP_METRICS.map(() => 0), 0];
  private streams = 0;
  private groups = 0;

  constructor(private readonly series: SeriesText) {}

  add(part: StreamBacklogs[]): void {
    // The part's lines of each metric, joined once (no string per line is built for an unchanged value).
    const lag: string[] = [];
    const lagSeconds: string[] = [];
    const pending: string[] = [];
    const oldestPending: string[] = [];
    const outstanding: string[] = [];
    const consumers: string[] = [];
    const estimated: string[] = [];
    const lengths: string[] = [];
    for (const st of part) {
      const series = this.series.stream(st.stream);
      lengths.push(series.length.line(0, st.length));
      this.last[GROUP_METRICS.length] = st.length;
      this.streams += 1;
      for (const g of st.groups) {
        const l = this.series.group(series, st.stream, g.group);
        // In the order of GROUP_METRICS.
        lag.push(l.line(0, g.lag));
        lagSeconds.push(l.line(1, g.lagSeconds));
        pending.push(l.line(2, g.pending));
        oldestPending.push(l.line(3, g.oldestPendingSeconds));
        outstanding.push(l.line(4, g.outstanding));
        consumers.push(l.line(5, g.consumers));
        const e = g.lagEstimated ? 1 : 0;
        estimated.push(l.line(6, e));
        const last = this.last;
        last[0] = g.lag;
        last[1] = g.lagSeconds;
        last[2] = g.pending;
        last[3] = g.oldestPendingSeconds;
        last[4] = g.outstanding;
        last[5] = g.consumers;
        last[6] = e;
        this.groups += 1;
      }
    }
    [lag, lagSeconds, pending, oldestPending, outstanding, consumers, estimated, lengths].forEach((lines, m) => {
      if (lines.length > 0) this.text[m] += lines.join('');
    });
  }

  finish(): RenderedScrape {
    // The last line's ` <value>\n` is left to prom-client (RenderedMetric).
    const rendered = (m: number, any: boolean): RenderedMetric | undefined => {
      if (!any) return undefined;
      const text = this.text[m]!;
      const value = this.last[m]!;
      return { metricName: text.slice(0, text.length - formatSampleValue(value).length - 2), value };
    };
    return {
      streamLength: rendered(GROUP_METRICS.length, this.streams > 0),
      groups: GROUP_METRICS.map((_, m) => rendered(m, this.groups > 0)),
    };
  }
}

/**
 * The exporter's metrics, read from Redis in prom-client `collect()` at scrape time: no background
 * loop, no cache of values. One scrape is one read of every stream and group (core
 * `readAllBacklogsOver` on the collector's own {@link RespConnection}: two pipelined rounds per 16
 * streams) under a deadline, its series written as text while Redis reads the next streams; the
 * collect() calls of one scrape, and of scrapes that overlap it, share that read, so every series of a
 * scrape comes from the same moment. When the read fails or times out the scrape shows
 * `exporter_up 0` and no stream or group series (never stale ones), and the connection is dropped.
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
  private readonly text = new SeriesText();
  private readonly renderings = new WeakMap<ScrapeOutcome, RenderedScrape>();
  private closed = false;
  /** The scrape's own connection (`resp` mode). */
  private readonly resp: RespConnection | undefined;
  /** The last scrape's outcome (tests, logs). */
  last: ScrapeOutcome | undefined;

  constructor(private readonly opts: LagCollectorOptions) {
    this.timeoutMs = opts.scrapeTimeoutMs ?? 5000;
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? 30_000;
    this.countLimit = opts.countLimit ?? DEFAULT_COUNT_LIMIT;
    this.now = opts.now ?? Date.now;
    this.literals = opts.streams.filter((s) => !GLOB.test(s));
    this.patterns = opts.streams.filter((s) => GLOB.test(s));
    const respOptions = (opts.mode ?? 'resp') === 'resp' ? respOptionsOf(opts.redis, `${opts.redis.options.connectionName ?? 'lag-exporter'}:scrape`) : undefined;
    this.resp = respOptions && new RespConnection(respOptions);
    /**
     * A prom-client metric is any object with name/help/type/get(); `getForPromString()`, when present,
     * is what the text exposition uses (here the one-pass rendering, {@link RenderedMetric}), `get()`
     * what `getMetricsAsJSON()` uses (one value per series).
     */
    const gauge = (name: string, help: string, samples: (o: ScrapeOutcome) => GaugeSnapshot['values'], text?: (r: RenderedScrape) => RenderedMetric | undefined) => {
      const full = `${METRIC_PREFIX}${name}`;
      const snapshot = (values: GaugeSnapshot['values']): GaugeSnapshot => ({ name: full, help, type: 'gauge', aggregator: 'sum', values });
      const metric = {
        name: full,
        help,
        type: 'gauge',
        aggregator: 'sum',
        get: async () => snapshot(samples(await this.scrape())),
        ...(text && {
          getForPromString: async () => {
            const o = await this.scrape();
            const r = o.ok ? text(this.rendered(o)) : undefined;
            return snapshot(r ? [{ value: r.value, labels: NO_LABELS, sharedLabels: NO_LABELS, metricName: r.metricName }] : []);
          },
        }),
      };
      // The Metric type lists only prom-client's own classes.
      opts.registry.registerMetric(metric as unknown as Metric);
    };
    gauge('exporter_up', '1 when the last scrape read Redis within SCRAPE_TIMEOUT_MS, else 0 (and no stream or group series)', (o) => [
      { value: o.ok ? 1 : 0, labels: NO_LABELS },
    ]);
    gauge('exporter_scrape_duration_seconds', 'Duration of the Redis reads (discovery included) of this scrape, in seconds', (o) => [
      { value: o.durationSeconds, labels: NO_LABELS },
    ]);
    gauge(
      'stream_length',
      'Entries in the stream (XLEN)',
      (o) => (o.ok ? o.streams.map((st) => ({ value: st.length, labels: { stream: st.stream } })) : []),
      (r) => r.streamLength,
    );
    GROUP_METRICS.forEach((m, i) => {
      gauge(
        m.name,
        m.help,
        (o) => (o.ok ? o.streams.flatMap((st) => st.groups.map((g) => ({ value: m.value(g), labels: { stream: g.stream, group: g.group } }))) : []),
        (r) => r.groups[i],
      );
    });
  }

  /** The stream and group series of a scrape as text (rendered while it was read). */
  private rendered(o: ScrapeOutcome & { ok: true }): RenderedScrape {
    let r = this.renderings.get(o);
    if (!r) {
      const t = new ScrapeText(this.text);
      t.add(o.streams);
      r = t.finish();
      this.renderings.set(o, r);
    }
    return r;
  }

  /**
   * Reads every stream and group now, or joins the read already in flight (the collect() calls of
   * one scrape start within the same tick, so they share one read). Never rejects.
   */
  scrape(): Promise<ScrapeOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'exporter is shutting down', durationSeconds: 0 });
    if (!this.inflight) {
      this.text.rotate();
      const p = this.readWithDeadline();
      this.inflight = p;
      void p.finally(() => {
        if (this.inflight === p) this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Stops answering scrapes with Redis reads (they report `exporter_up 0`) and closes the scrape's own connection. Idempotent. */
  close(): void {
    this.closed = true;
    this.resp?.close();
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
      const { streams, text } = await Promise.race([read, deadline]);
      outcome = { ok: true, streams, durationSeconds: (performance.now() - started) / 1000 };
      this.renderings.set(outcome, text.finish());
    } catch (err) {
      outcome = { ok: false, error: err instanceof Error ? err.message : String(err), durationSeconds: (performance.now() - started) / 1000 };
      // A connection that let a read run out of time is not trusted with the next one.
      this.resp?.reset(outcome.error);
      if (!this.failing) this.opts.logger.warn({ ...errorFields(err) }, 'scrape failed: exporting exporter_up 0 without stream or group series until Redis answers');
    } finally {
      clearTimeout(timer);
    }
    if (outcome.ok && this.failing) this.opts.logger.info({ streams: outcome.streams.length }, 'scrape succeeded again');
    this.failing = !outcome.ok;
    this.last = outcome;
    return outcome;
  }

  private async read(): Promise<{ streams: StreamBacklogs[]; text: ScrapeText }> {
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
    const text = new ScrapeText(this.text);
    const options = {
      ...(groups ? { groups } : {}),
      countLimit: this.countLimit,
      ...(this.opts.now ? { nowMs: this.opts.now() } : {}),
      onStreams: (part: StreamBacklogs[]) => text.add(part),
    };
    const sorted = [...names].sort();
    const streams = this.resp
      ? await readAllBacklogsOver(this.resp, sorted, options)
      : await readAllBacklogs(this.opts.redis, sorted, { ...options, ...(this.opts.mode === 'commands' ? { mode: 'commands' as const } : {}) });
    return { streams, text };
  }
}
