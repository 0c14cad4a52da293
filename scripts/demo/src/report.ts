import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { renderChart, type ChartOptions, type ChartPhase } from './chart';
import type { Summary } from './summary';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The chart's samples and options for a summary (`title` default: the demo's, with the outcome). */
export function chartInputOf(s: Summary, title?: string): { samples: Summary['timeline']; options: ChartOptions } {
  const c = s.counts;
  const phases: ChartPhase[] = s.config.phases.map((p) => ({ name: p.name, startS: p.startS, endS: p.startS + p.durationS }));
  const end = Math.max(...s.timeline.map((x) => x.t), phases.length ? phases[phases.length - 1]!.endS : 0);
  const last = phases[phases.length - 1];
  if (last && end > last.endS + 0.5) phases.push({ name: 'drain', startS: last.endS, endS: end });
  const options: ChartOptions = {
    title: `${title ?? 'stream-workers demo'}${s.outcome === 'completed' ? '' : ` (${s.outcome})`}`,
    subtitle: `published ${c.published} · processed ${c.processed} · dead-lettered ${c.deadLettered} · duplicates ${c.duplicates} · lost ${c.lost} · replicas ${s.replicas.min}–${s.replicas.max}`,
    phases,
    minReplicas: s.replicas.min,
    maxReplicas: s.replicas.max,
  };
  return { samples: s.timeline, options };
}

/** The chart of a summary as SVG. */
export function chartOf(s: Summary): string {
  const { samples, options } = chartInputOf(s);
  return renderChart(samples, options);
}

/** Renders SVG to PNG with resvg (system fonts for the text). */
export function svgToPng(svg: string, widthPx = 1600): Buffer {
  const r = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'width', value: widthPx }, background: '#ffffff' });
  return r.render().asPng();
}

function table(rows: Array<[string, string | number, string?]>): string {
  return `<table>${rows.map(([k, v, note]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td><td class="note">${esc(note ?? '')}</td></tr>`).join('')}</table>`;
}

/** The self-contained HTML report (inline SVG chart, no external resources). */
export function htmlOf(s: Summary, svg: string): string {
  const c = s.counts;
  const verdict = s.ok ? '<span class="ok">OK</span>' : `<span class="bad">${esc(s.outcome === 'interrupted' ? 'INTERRUPTED' : 'FAILED')}</span>`;
  const counts = table([
    ['published', c.published, 'events acknowledged to the load generator by the producer (HTTP 2xx)'],
    ['processed', c.processed, 'distinct events whose handler completed (ledger written by the handler, before the ack)'],
    ['dead-lettered', c.deadLettered, `entries in ${s.deadLetterStream} (${c.poisonPublished} poison events published)`],
    ['duplicates', c.duplicates, 'handler runs beyond the first for an event (at-least-once redelivery)'],
    ['unfinished', c.unfinished, 'still in the backlog (lag + pending) when the run stopped'],
    ['lost', c.lost, 'published − processed − dead-lettered − unfinished'],
    ['publish failures', c.publishFailed, 'sent but not acknowledged (not counted as published)'],
    ['stream entries appended', c.entriesAdded, 'XINFO STREAM entries-added (cross-check of published)'],
  ]);
  const g = s.group_at_end;
  const replicas = table([
    ['min / max', `${s.replicas.min} / ${s.replicas.max}`],
    ['peak during the burst', s.replicas.peakDuringBurst, 'worker processes running'],
    ['peak desired', s.replicas.peakDesired ?? '–', 'stream_workers_autoscaler_desired_replicas'],
    ['at the end', s.replicas.atEnd ?? '–', 'worker processes running at the last sample'],
    ['group at the end', `entries-read ${g.entriesRead ?? '–'}, lag ${g.lag ?? '–'}, pending ${g.pending ?? '–'}, consumers ${g.consumers ?? '–'}`, 'XINFO GROUPS'],
  ]);
  const checks = `<table>${s.checks.map((k) => `<tr><th>${k.ok ? '<span class="ok">✔</span>' : '<span class="bad">✘</span>'} ${esc(k.name)}</th><td colspan="2">${esc(k.detail)}</td></tr>`).join('')}</table>`;
  const phases = `<table><tr><th>phase</th><th>from (s)</th><th>duration (s)</th><th>rate (events/s)</th><th>poison</th><th></th></tr>${s.config.phases
    .map((p) => `<tr><td>${esc(p.name)}</td><td>${p.startS}</td><td>${p.durationS}</td><td>${p.fromRate === p.toRate ? p.fromRate : `${p.fromRate} → ${p.toRate}`}</td><td>${p.poison}</td><td class="note">${esc(p.description)}</td></tr>`)
    .join('')}</table>`;
  const services = Object.entries(s.config.services)
    .map(([name, env]) => `<h3>${esc(name)}</h3><pre>${esc(Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n'))}</pre>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>stream-workers demo report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:1040px;color:#1f2937;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#6b7280;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .8rem;text-align:left;vertical-align:top}
th{font-weight:600}.note{color:#6b7280;font-size:.9em}.ok{color:#15803d;font-weight:700}.bad{color:#b91c1c;font-weight:700}
pre{background:#f3f4f6;padding:.6rem;overflow-x:auto;font-size:.85em}svg{max-width:100%;height:auto}
</style></head><body>
<h1>stream-workers demo ${verdict}</h1>
<p class="meta">run ${esc(s.runId)} · ${esc(s.startedAt)} → ${esc(s.endedAt)} (${s.elapsedS.toFixed(0)} s) · Redis ${esc(s.redis)} · stream <code>${esc(s.stream)}</code>, group <code>${esc(s.group)}</code>${s.reason ? ` · ${esc(s.reason)}` : ''}</p>
${svg}
<h2>Summary</h2>${counts}
<h2>Checks</h2>${checks}
<h2>Replicas</h2>${replicas}
<h2>Scenario</h2>${phases}
<h2>Configuration</h2><pre>${esc(JSON.stringify({ durationS: s.config.durationS, minReplicas: s.config.minReplicas, maxReplicas: s.config.maxReplicas, ...s.config.tuning }, null, 2))}</pre>
${services}
<p class="note">Logs of every service: <code>logs/</code> next to this file. Raw timeline: <code>summary.json</code>.</p>
</body></html>
`;
}

/** Writes summary.json, index.html and chart.png into `dir`; returns the paths. */
export function writeReport(dir: string, s: Summary): { html: string; png: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'summary.json');
  writeFileSync(json, `${JSON.stringify(s, null, 2)}\n`);
  const svg = chartOf(s);
  const html = join(dir, 'index.html');
  writeFileSync(html, htmlOf(s, svg));
  const png = join(dir, 'chart.png');
  writeFileSync(png, svgToPng(svg));
  return { html, png, json };
}
