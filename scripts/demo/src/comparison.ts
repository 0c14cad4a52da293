/**
 * DEMO_SCALING=both: the same scenario once per SCALING_MODE, compared. Figures from each run's
 * timeline (the issue's: direction changes of the replica count during the burst, backlog age p99,
 * maximum backlog, replica-seconds, time to drain) and the report with both charts side by side.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSideBySide } from './chart';
import { chartInputOf, svgToPng } from './report';
import type { Sample } from './sample';
import type { Summary } from './summary';

/** What one mode's run showed. */
export interface ModeFigures {
  mode: string;
  /** Reversals of the desired replica count during the burst (the direction before the burst included). */
  directionChanges: number;
  /** 99th percentile of the backlog age (oldest undelivered or unacked entry), over the load, in s. */
  ageP99S: number;
  maxBacklog: number;
  /** Σ running worker processes × sample interval, over the load (until the last phase ends). */
  replicaSeconds: number;
  /** From the burst's end until outstanding ≤ TARGET_PER_REPLICA; null if never. */
  drainS: number | null;
}

/** Reversals of `value` among rows within [startS, endS), the direction before startS included. */
export function reversals(rows: readonly Sample[], value: (s: Sample) => number | null, startS: number, endS: number): number {
  let dir = 0;
  let prev: number | undefined;
  let changes = 0;
  for (const s of rows) {
    const v = value(s);
    if (v === null || s.t >= endS) continue;
    const d = prev === undefined ? 0 : Math.sign(v - prev);
    prev = v;
    if (d === 0) continue;
    if (s.t >= startS && dir !== 0 && d !== dir) changes += 1;
    dir = d;
  }
  return changes;
}

export function figuresOf(s: Summary): ModeFigures {
  const burst = s.config.phases.find((p) => p.name === 'burst');
  const last = s.config.phases[s.config.phases.length - 1];
  const loadEnd = last ? last.startS + last.durationS : 0;
  const rows = s.timeline.filter((x) => x.t >= 0 && x.phase !== 'stopping');
  const ages = rows.map((x) => Math.max(x.lagSeconds ?? 0, x.oldestPendingSeconds ?? 0)).sort((a, b) => a - b);
  const load = rows.filter((x) => x.t <= loadEnd);
  let replicaSeconds = 0;
  for (let i = 1; i < load.length; i++) replicaSeconds += load[i - 1]!.running * (load[i]!.t - load[i - 1]!.t);
  const burstEnd = burst ? burst.startS + burst.durationS : 0;
  const drained = rows.find((x) => x.t >= burstEnd && x.outstanding !== null && x.outstanding <= s.config.tuning.targetPerReplica);
  return {
    mode: s.config.scalingMode,
    directionChanges: burst ? reversals(rows, (x) => x.desired ?? x.running, burst.startS, burstEnd) : 0,
    ageP99S: ages.length ? ages[Math.min(ages.length - 1, Math.floor(0.99 * ages.length))]! : 0,
    maxBacklog: Math.max(0, ...rows.map((x) => x.outstanding ?? 0)),
    replicaSeconds,
    drainS: drained ? drained.t - burstEnd : null,
  };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The comparison page: both charts, the figures per mode, a link to each run's own report. */
export function comparisonHtml(runs: readonly Summary[], svg: string): string {
  const figs = runs.map(figuresOf);
  const row = (label: string, f: (x: ModeFigures) => string) => `<tr><th>${esc(label)}</th>${figs.map((x) => `<td>${esc(f(x))}</td>`).join('')}</tr>`;
  const table = [
    `<tr><th></th>${figs.map((x) => `<th>SCALING_MODE=${esc(x.mode)}</th>`).join('')}</tr>`,
    row('direction changes during the burst', (x) => String(x.directionChanges)),
    row('backlog age p99', (x) => `${x.ageP99S.toFixed(1)} s`),
    row('maximum backlog', (x) => String(x.maxBacklog)),
    row('replica-seconds', (x) => x.replicaSeconds.toFixed(0)),
    row('time to drain after the burst', (x) => (x.drainS === null ? '–' : `${x.drainS.toFixed(0)} s`)),
    row('outcome', (x) => runs.find((r) => r.config.scalingMode === x.mode)!.outcome),
  ].join('');
  const links = runs.map((r) => `<a href="${esc(r.config.scalingMode)}/index.html">${esc(r.config.scalingMode)}</a>`).join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stream-workers demo: lag vs rate mode</title>
<style>body{font-family:system-ui,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:1400px;color:#1f2937;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .8rem;text-align:left}svg{max-width:100%;height:auto}</style></head><body>
<h1>The same scenario, once per scaling mode</h1>
${svg}
<table>${table}</table>
<p>Each run's own report: ${links}</p>
</body></html>
`;
}

/** Writes index.html, chart.png and summary.json (both runs) of DEMO_SCALING=both into `dir`. */
export function writeComparison(dir: string, runs: readonly Summary[]): { html: string; png: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const svg = renderSideBySide(runs.map((r) => chartInputOf(r, `SCALING_MODE=${r.config.scalingMode}`)));
  const html = join(dir, 'index.html');
  writeFileSync(html, comparisonHtml(runs, svg));
  const png = join(dir, 'chart.png');
  writeFileSync(png, svgToPng(svg, 2400));
  const json = join(dir, 'summary.json');
  writeFileSync(json, `${JSON.stringify({ scaling: 'both', figures: runs.map(figuresOf), runs: runs.map((r) => ({ mode: r.config.scalingMode, outcome: r.outcome, ok: r.ok, report: `${r.config.scalingMode}/index.html` })) }, null, 2)}\n`);
  return { html, png, json };
}
