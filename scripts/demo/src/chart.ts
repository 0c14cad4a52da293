import type { Sample } from './sample';

/** A phase band drawn behind the chart. */
export interface ChartPhase {
  name: string;
  startS: number;
  endS: number;
}

/** Options for {@link renderChart}. */
export interface ChartOptions {
  title: string;
  subtitle: string;
  phases: ChartPhase[];
  minReplicas: number;
  maxReplicas: number;
  /** Default 1000 × 640 px. */
  width?: number;
  height?: number;
  /** Axis tops shared with another chart (side by side); default from these samples. */
  scale?: ChartScale;
}

/** The axes' upper ends: time, events/s, outstanding, replicas. */
export interface ChartScale {
  tMax: number;
  rateMax: number;
  backlogMax: number;
  replicasMax: number;
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
const COLORS = { in: '#2a9d8f', out: '#e76f51', backlog: '#457b9d', desired: '#9b5de5', running: '#1d3557', grid: '#e5e7eb', text: '#374151', band: ['#f8fafc', '#eef2f7'] };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" upper bound and tick step for an axis from 0 to `max`. */
export function niceScale(max: number, ticks = 4): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 1 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { top: Math.ceil(max / step) * step, step };
}

interface Panel {
  label: string;
  y: number;
  h: number;
  top: number;
  step: number;
}

/** Where things go on one chart. */
interface Frame {
  W: number;
  H: number;
  left: number;
  right: number;
  x: (t: number) => number;
  panels: [Panel, Panel, Panel];
  yOf: (p: Panel, v: number) => number;
}

/** The axis tops of these samples (and phases). */
export function scaleOf(samples: readonly Sample[], o: Pick<ChartOptions, 'phases' | 'maxReplicas'>): ChartScale {
  const rows = samples.filter((s) => s.t >= 0);
  const maxOf = (f: (s: Sample) => number | null): number => Math.max(0, ...rows.map((s) => f(s) ?? 0));
  return {
    tMax: Math.max(1, ...rows.map((s) => s.t), ...o.phases.map((p) => p.endS)),
    rateMax: Math.max(maxOf((s) => s.inRate), maxOf((s) => s.outRate)),
    backlogMax: maxOf((s) => s.outstanding),
    replicasMax: Math.max(o.maxReplicas, maxOf((s) => s.desired), maxOf((s) => s.running)),
  };
}

/** The larger of each axis top: charts side by side on the same axes. */
export function mergeScales(scales: readonly ChartScale[]): ChartScale {
  const max = (f: (s: ChartScale) => number) => Math.max(...scales.map(f));
  return { tMax: max((s) => s.tMax), rateMax: max((s) => s.rateMax), backlogMax: max((s) => s.backlogMax), replicasMax: max((s) => s.replicasMax) };
}

function frameOf(o: ChartOptions, sc: ChartScale): Frame {
  const W = o.width ?? 1000;
  const H = o.height ?? 640;
  const left = 70;
  const right = 20;
  const plotW = W - left - right;
  const panels: [Panel, Panel, Panel] = [
    { label: 'events / s', y: 92, h: 140, ...niceScale(sc.rateMax) },
    { label: 'outstanding (backlog)', y: 272, h: 140, ...niceScale(sc.backlogMax) },
    { label: 'worker replicas', y: 452, h: 120, ...niceScale(sc.replicasMax, Math.min(4, Math.max(1, o.maxReplicas))) },
  ];
  return {
    W,
    H,
    left,
    right,
    panels,
    x: (t) => left + (Math.min(Math.max(t, 0), sc.tMax) / sc.tMax) * plotW,
    yOf: (p, v) => p.y + p.h - (Math.min(v, p.top) / p.top) * p.h,
  };
}

/** Title, phase bands over the three panels, and each panel's grid and label. */
function drawFrame(out: string[], f: Frame, o: ChartOptions): void {
  out.push(`<text x="${f.left}" y="30" font-size="20" font-weight="bold" fill="${COLORS.text}">${esc(o.title)}</text>`);
  out.push(`<text x="${f.left}" y="52" font-size="13" fill="${COLORS.text}">${esc(o.subtitle)}</text>`);
  const bandTop = f.panels[0].y - 14;
  const bandBottom = f.panels[2].y + f.panels[2].h;
  o.phases.forEach((p, i) => {
    const x0 = f.x(p.startS);
    const x1 = f.x(p.endS);
    out.push(`<rect x="${x0.toFixed(1)}" y="${bandTop}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${bandBottom - bandTop}" fill="${COLORS.band[i % 2]}"/>`);
    out.push(`<text x="${((x0 + x1) / 2).toFixed(1)}" y="${bandTop + 10}" font-size="11" text-anchor="middle" fill="#6b7280">${esc(p.name)}</text>`);
  });
  for (const p of f.panels) {
    for (let v = 0; v <= p.top + 1e-9; v += p.step) {
      const yy = f.yOf(p, v).toFixed(1);
      out.push(`<line x1="${f.left}" x2="${f.W - f.right}" y1="${yy}" y2="${yy}" stroke="${COLORS.grid}" stroke-width="1"/>`);
      out.push(`<text x="${f.left - 6}" y="${(Number(yy) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="${COLORS.text}">${Number(v.toFixed(2))}</text>`);
    }
    out.push(`<text x="${f.left}" y="${p.y - 18}" font-size="12" font-weight="bold" fill="${COLORS.text}" transform="translate(0 0)">${esc(p.label)}</text>`);
  }
}

/** One series as SVG paths (gaps where the value is null; `step` draws a staircase). */
function seriesPaths(rows: readonly Sample[], f: Frame, p: Panel, value: (s: Sample) => number | null, color: string, opts: { step?: boolean; dash?: string; width?: number } = {}): string[] {
  const segs: string[] = [];
  let cur = '';
  let prevY: number | undefined;
  for (const s of rows) {
    const v = value(s);
    if (v === null) {
      if (cur) segs.push(cur);
      cur = '';
      prevY = undefined;
      continue;
    }
    const px = f.x(s.t).toFixed(1);
    const py = f.yOf(p, v);
    if (!cur) cur = `M${px},${py.toFixed(1)}`;
    else if (opts.step && prevY !== undefined) cur += ` H${px} V${py.toFixed(1)}`;
    else cur += ` L${px},${py.toFixed(1)}`;
    prevY = py;
  }
  if (cur) segs.push(cur);
  return segs.map((d) => `<path d="${d}" fill="none" stroke="${color}" stroke-width="${opts.width ?? 2}" stroke-linejoin="round"${opts.dash ? ` stroke-dasharray="${opts.dash}"` : ''}/>`);
}

/** The rates, the backlog (line and area), the min/max lines and the replicas. */
function drawSeries(out: string[], f: Frame, rows: readonly Sample[], o: ChartOptions): void {
  const [pRate, pBacklog, pRepl] = f.panels;
  const area = rows.filter((s) => s.outstanding !== null);
  if (area.length > 1) {
    const pts = area.map((s) => `${f.x(s.t).toFixed(1)},${f.yOf(pBacklog, s.outstanding!).toFixed(1)}`);
    const base = (pBacklog.y + pBacklog.h).toFixed(1);
    out.push(`<path d="M${f.x(area[0]!.t).toFixed(1)},${base} L${pts.join(' L')} L${f.x(area[area.length - 1]!.t).toFixed(1)},${base} Z" fill="${COLORS.backlog}" fill-opacity="0.25" stroke="none"/>`);
  }
  out.push(...seriesPaths(rows, f, pBacklog, (s) => s.outstanding, COLORS.backlog));
  out.push(...seriesPaths(rows, f, pRate, (s) => s.inRate, COLORS.in));
  out.push(...seriesPaths(rows, f, pRate, (s) => s.outRate, COLORS.out));
  for (const [v, label] of [
    [o.minReplicas, 'min'],
    [o.maxReplicas, 'max'],
  ] as const) {
    const yy = f.yOf(pRepl, v).toFixed(1);
    out.push(`<line x1="${f.left}" x2="${f.W - f.right}" y1="${yy}" y2="${yy}" stroke="#9ca3af" stroke-width="1" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${f.W - f.right - 4}" y="${(Number(yy) - 3).toFixed(1)}" font-size="10" text-anchor="end" fill="#6b7280">${label}</text>`);
  }
  out.push(...seriesPaths(rows, f, pRepl, (s) => s.running, COLORS.running, { step: true, width: 2.5 }));
  out.push(...seriesPaths(rows, f, pRepl, (s) => s.desired, COLORS.desired, { step: true, dash: '6 4' }));
}

/** The time axis and the legend. */
function drawAxisAndLegend(out: string[], f: Frame, tMax: number): void {
  const xs = niceScale(tMax, 8);
  const pRepl = f.panels[2];
  const axisY = pRepl.y + pRepl.h;
  for (let t = 0; t <= tMax + 1e-9; t += xs.step) {
    out.push(`<line x1="${f.x(t).toFixed(1)}" x2="${f.x(t).toFixed(1)}" y1="${axisY}" y2="${axisY + 5}" stroke="${COLORS.text}"/>`);
    out.push(`<text x="${f.x(t).toFixed(1)}" y="${axisY + 18}" font-size="11" text-anchor="middle" fill="${COLORS.text}">${Number(t.toFixed(1))} s</text>`);
  }
  out.push(`<line x1="${f.left}" x2="${f.W - f.right}" y1="${axisY}" y2="${axisY}" stroke="${COLORS.text}"/>`);
  const legend: Array<[string, string, string?]> = [
    ['in (appended)', COLORS.in],
    ['out (processed)', COLORS.out],
    ['outstanding = lag + pending', COLORS.backlog],
    ['replicas desired', COLORS.desired, '6 4'],
    ['worker processes running', COLORS.running],
  ];
  let lx = f.left;
  const ly = f.H - 22;
  for (const [label, color, dash] of legend) {
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" font-size="12" fill="${COLORS.text}">${esc(label)}</text>`);
    lx += 28 + label.length * 7 + 24;
  }
}

/**
 * The report's chart as a standalone SVG: events in/out per second, the backlog (outstanding) and
 * the replicas desired and running over time, with the scenario's phases as bands. Text uses common
 * system fonts (resvg loads them for the PNG); the lines carry the story without them.
 */
export function renderChart(samples: readonly Sample[], o: ChartOptions): string {
  const rows = samples.filter((s) => s.t >= 0);
  const sc = o.scale ?? scaleOf(samples, o);
  const f = frameOf(o, sc);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" font-family="${FONT}">`);
  out.push(`<rect width="${f.W}" height="${f.H}" fill="#ffffff"/>`);
  drawFrame(out, f, o);
  drawSeries(out, f, rows, o);
  drawAxisAndLegend(out, f, sc.tMax);
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Charts side by side on the same axes (DEMO_SCALING=both: the lag mode's run, then the rate mode's),
 * one standalone SVG; each chart keeps its own title.
 */
export function renderSideBySide(charts: ReadonlyArray<{ samples: readonly Sample[]; options: ChartOptions }>): string {
  const scale = mergeScales(charts.map((c) => c.options.scale ?? scaleOf(c.samples, c.options)));
  const W = 1000;
  const H = 640;
  const inner = charts.map((c, i) =>
    renderChart(c.samples, { ...c.options, width: W, height: H, scale }).replace('<svg xmlns="http://www.w3.org/2000/svg" ', `<svg x="${i * W}" y="0" `),
  );
  return [`<svg xmlns="http://www.w3.org/2000/svg" width="${W * charts.length}" height="${H}" viewBox="0 0 ${W * charts.length} ${H}">`, ...inner, '</svg>'].join('\n');
}
