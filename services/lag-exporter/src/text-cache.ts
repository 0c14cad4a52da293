/**
 * The exporter's text cache: the sample lines of every stream and group series, escaped once and
 * reused across scrapes while values stay the same, and the rendering of one scrape's series in one
 * pass, part by part as the read delivers them.
 */
import { METRIC_PREFIX, type GroupBacklog, type StreamBacklogs } from '@stream-workers/core';

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
export const GROUP_METRICS: Array<{ name: string; help: string; value: (b: GroupBacklog) => number }> = [
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
export class SeriesText {
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
export interface RenderedMetric {
  metricName: string;
  value: number;
}

/** The stream and group series of one scrape as text (undefined: no series). */
export interface RenderedScrape {
  streamLength: RenderedMetric | undefined;
  groups: Array<RenderedMetric | undefined>;
}

/**
 * Renders the stream and group series of one scrape, every metric in one pass over the groups, part
 * by part as the read delivers them (`onStreams` of core `readAllBacklogsOver` and `readAllBacklogs`):
 * the text of one part is written while Redis reads the next.
 */
export class ScrapeText {
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

