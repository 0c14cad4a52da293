import type { Sample } from './sample';

/** Options for {@link LiveView}. */
export interface LiveViewOptions {
  /** Where to write; default process.stdout. */
  out?: NodeJS.WritableStream;
  /** Redraw a table in place (a terminal) or print one line per sample. */
  mode: 'tty' | 'plain';
  /** Length of the scenario in s (for the progress display). */
  totalS: number;
  minReplicas: number;
  maxReplicas: number;
  /** Poison events the scenario publishes (shown next to the dead letters). */
  poison: number;
}

const fmt = (v: number | null, digits = 0): string => (v === null ? '–' : v.toFixed(digits));
const secs = (v: number | null): string => (v === null ? '–' : `${v.toFixed(1)} s`);
const BLOCKS = ' ▁▂▃▄▅▆▇█';

/** A sparkline of the last values (null as a gap). */
export function sparkline(values: ReadonlyArray<number | null>, width: number): string {
  const v = values.slice(-width);
  const max = Math.max(1, ...v.map((x) => x ?? 0));
  return v.map((x) => (x === null ? ' ' : BLOCKS[Math.min(8, Math.ceil((x / max) * 8))]!)).join('').padEnd(width);
}

/** One plain log line for a sample (non-terminal output). */
export function plainLine(s: Sample): string {
  const t = s.t < 0 ? 'setup' : `t=${s.t.toFixed(0)}s`;
  return (
    `${t} phase=${s.phase} in=${fmt(s.inRate)}/s out=${fmt(s.outRate)}/s outstanding=${fmt(s.outstanding)} ` +
    `backlog_age=${secs(s.lagSeconds).replace(' ', '')} oldest_pending=${secs(s.oldestPendingSeconds).replace(' ', '')} ` +
    `replicas desired=${fmt(s.desired)} running=${s.running} dead_letters=${s.deadLetters} appended=${s.added} processed=${s.processed}`
  );
}

/**
 * The live terminal view: every second a small table redrawn in place with ANSI escapes when stdout
 * is a terminal, one plain line otherwise (CI logs, pipes). Messages (start-up, shutdown) print above
 * the table.
 */
export class LiveView {
  private readonly out: NodeJS.WritableStream;
  private drawn = 0;
  private readonly history: Array<number | null> = [];
  private closed = false;

  constructor(private readonly opts: LiveViewOptions) {
    this.out = opts.out ?? process.stdout;
  }

  /** A message line (kept above the redrawn table). */
  message(text: string): void {
    if (this.closed) {
      this.out.write(`${text}\n`);
      return;
    }
    this.clear();
    this.out.write(`${text}\n`);
    this.redrawLast();
  }

  private last: Sample | undefined;

  update(s: Sample): void {
    if (this.closed) return;
    this.last = s;
    this.history.push(s.outstanding);
    if (this.history.length > 120) this.history.shift();
    if (this.opts.mode === 'plain') {
      this.out.write(`${plainLine(s)}\n`);
      return;
    }
    this.clear();
    this.draw(s);
  }

  /** Leaves the last table on screen and shows the cursor again. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.opts.mode === 'tty') this.out.write('\x1b[?25h');
    this.drawn = 0;
  }

  private redrawLast(): void {
    if (this.opts.mode === 'tty' && this.last) this.draw(this.last);
  }

  private clear(): void {
    if (this.opts.mode !== 'tty' || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(s: Sample): void {
    const o = this.opts;
    const progress = s.t < 0 ? 'starting' : `${Math.min(s.t, o.totalS).toFixed(0)} / ${o.totalS.toFixed(0)} s`;
    const bar = (n: number | null): string => {
      const k = Math.max(0, Math.min(o.maxReplicas, n ?? 0));
      return '■'.repeat(k) + '□'.repeat(o.maxReplicas - k);
    };
    const lines = [
      `\x1b[?25l\x1b[1mstream-workers demo\x1b[0m   phase \x1b[36m${s.phase.padEnd(8)}\x1b[0m  ${progress}`,
      `  events in        ${fmt(s.inRate).padStart(8)} /s     appended   ${String(s.added).padStart(8)}`,
      `  events out       ${fmt(s.outRate).padStart(8)} /s     processed  ${String(s.processed).padStart(8)}`,
      `  outstanding      ${fmt(s.outstanding).padStart(8)}        lag ${fmt(s.lag)}, pending ${fmt(s.pending)}`,
      `  backlog age      ${secs(s.lagSeconds).padStart(10)}      oldest pending ${secs(s.oldestPendingSeconds)}`,
      `  replicas         desired ${fmt(s.desired).padStart(2)}  running ${String(s.running).padStart(2)}  ${bar(s.running)}  (min ${o.minReplicas}, max ${o.maxReplicas})`,
      `  dead letters     ${String(s.deadLetters).padStart(8)}        (${o.poison} poison events in the scenario)`,
      `  backlog (2 min)  ${sparkline(this.history, 60)}`,
      `  Ctrl-C stops the demo cleanly and writes a partial report.`,
    ];
    this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}
