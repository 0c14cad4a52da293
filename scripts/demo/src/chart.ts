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

/**
 * The report's chart as a standalone SVG: events in/out per second, the backlog (outstanding) and
 * the replicas desired and running over time, with the scenario's phases as bands. Text uses common
 * system fonts (resvg loads them for the PNG); the lines carry the story without them.
 */
export function renderChart(samples: readonly Sample[], o: ChartOptions): string {
  const W = o.width ?? 1000;
  const H = o.height ?? 640;
  const left = 70;
  const right = 20;
  const plotW = W - left - right;
  const rows = samples.filter((s) => s.t >= 0);
  const tMax = Math.max(1, ...rows.map((s) => s.t), ...o.phases.map((p) => p.endS));
  const x = (t: number): number => left + (Math.min(Math.max(t, 0), tMax) / tMax) * plotW;

  const maxOf = (f: (s: Sample) => number | null): number => Math.max(0, ...rows.map((s) => f(s) ?? 0));
  const rate = niceScale(Math.max(maxOf((s) => s.inRate), maxOf((s) => s.outRate)));
  const backlog = niceScale(maxOf((s) => s.outstanding));
  const repl = niceScale(Math.max(o.maxReplicas, maxOf((s) => s.desired), maxOf((s) => s.running)), Math.min(4, Math.max(1, o.maxReplicas)));
  const panels: Panel[] = [
    { label: 'events / s', y: 92, h: 140, ...rate },
    { label: 'outstanding (backlog)', y: 272, h: 140, ...backlog },
    { label: 'worker replicas', y: 452, h: 120, ...repl },
  ];
  const yOf = (p: Panel, v: number): number => p.y + p.h - (Math.min(v, p.top) / p.top) * p.h;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="30" font-size="20" font-weight="bold" fill="${COLORS.text}">${esc(o.title)}</text>`);
  out.push(`<text x="${left}" y="52" font-size="13" fill="${COLORS.text}">${esc(o.subtitle)}</text>`);

  // Phase bands over the three panels.
  const bandTop = panels[0]!.y - 14;
  const bandBottom = panels[2]!.y + panels[2]!.h;
  o.phases.forEach((p, i) => {
    const x0 = x(p.startS);
    const x1 = x(p.endS);
    out.push(`<rect x="${x0.toFixed(1)}" y="${bandTop}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${bandBottom - bandTop}" fill="${COLORS.band[i % 2]}"/>`);
    out.push(`<text x="${((x0 + x1) / 2).toFixed(1)}" y="${bandTop + 10}" font-size="11" text-anchor="middle" fill="#6b7280">${esc(p.name)}</text>`);
  });

  for (const p of panels) {
    for (let v = 0; v <= p.top + 1e-9; v += p.step) {
      const yy = yOf(p, v).toFixed(1);
      out.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="${COLORS.grid}" stroke-width="1"/>`);
      out.push(`<text x="${left - 6}" y="${(Number(yy) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="${COLORS.text}">${Number(v.toFixed(2))}</text>`);
    }
    out.push(`<text x="${left}" y="${p.y - 18}" font-size="12" font-weight="bold" fill="${COLORS.text}" transform="translate(0 0)">${esc(p.label)}</text>`);
  }
  const [pRate, pBacklog, pRepl] = panels as [Panel, Panel, Panel];

  const line = (p: Panel, f: (s: Sample) => number | null, color: string, opts: { step?: boolean; dash?: string; width?: number } = {}): void => {
    const segs: string[] = [];
    let cur = '';
    let prevY: number | undefined;
    for (const s of rows) {
      const v = f(s);
      if (v === null) {
        if (cur) segs.push(cur);
        cur = '';
        prevY = undefined;
        continue;
      }
      const px = x(s.t).toFixed(1);
      const py = yOf(p, v);
      if (!cur) cur = `M${px},${py.toFixed(1)}`;
      else if (opts.step && prevY !== undefined) cur += ` H${px} V${py.toFixed(1)}`;
      else cur += ` L${px},${py.toFixed(1)}`;
      prevY = py;
    }
    if (cur) segs.push(cur);
    for (const d of segs) out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${opts.width ?? 2}" stroke-linejoin="round"${opts.dash ? ` stroke-dasharray="${opts.dash}"` : ''}/>`);
  };

  // Backlog as an area.
  const area = rows.filter((s) => s.outstanding !== null);
  if (area.length > 1) {
    const pts = area.map((s) => `${x(s.t).toFixed(1)},${yOf(pBacklog, s.outstanding!).toFixed(1)}`);
    const base = (pBacklog.y + pBacklog.h).toFixed(1);
    out.push(`<path d="M${x(area[0]!.t).toFixed(1)},${base} L${pts.join(' L')} L${x(area[area.length - 1]!.t).toFixed(1)},${base} Z" fill="${COLORS.backlog}" fill-opacity="0.25" stroke="none"/>`);
  }
  line(pBacklog, (s) => s.outstanding, COLORS.backlog);
  line(pRate, (s) => s.inRate, COLORS.in);
  line(pRate, (s) => s.outRate, COLORS.out);
  for (const [v, label] of [
    [o.minReplicas, 'min'],
    [o.maxReplicas, 'max'],
  ] as const) {
    const yy = yOf(pRepl, v).toFixed(1);
    out.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#9ca3af" stroke-width="1" stroke-dasharray="2 4"/>`);
    out.push(`<text x="${W - right - 4}" y="${(Number(yy) - 3).toFixed(1)}" font-size="10" text-anchor="end" fill="#6b7280">${label}</text>`);
  }
  line(pRepl, (s) => s.running, COLORS.running, { step: true, width: 2.5 });
  line(pRepl, (s) => s.desired, COLORS.desired, { step: true, dash: '6 4' });

  // X axis.
  const xs = niceScale(tMax, 8);
  const axisY = pRepl.y + pRepl.h;
  for (let t = 0; t <= tMax + 1e-9; t += xs.step) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${axisY}" y2="${axisY + 5}" stroke="${COLORS.text}"/>`);
    out.push(`<text x="${x(t).toFixed(1)}" y="${axisY + 18}" font-size="11" text-anchor="middle" fill="${COLORS.text}">${Number(t.toFixed(1))} s</text>`);
  }
  out.push(`<line x1="${left}" x2="${W - right}" y1="${axisY}" y2="${axisY}" stroke="${COLORS.text}"/>`);

  // Legend.
  const legend: Array<[string, string, string?]> = [
    ['in (appended)', COLORS.in],
    ['out (processed)', COLORS.out],
    ['outstanding = lag + pending', COLORS.backlog],
    ['replicas desired', COLORS.desired, '6 4'],
    ['worker processes running', COLORS.running],
  ];
  let lx = left;
  const ly = H - 22;
  for (const [label, color, dash] of legend) {
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" font-size="12" fill="${COLORS.text}">${esc(label)}</text>`);
    lx += 28 + label.length * 7 + 24;
  }
  out.push('</svg>');
  return out.join('\n');
}
