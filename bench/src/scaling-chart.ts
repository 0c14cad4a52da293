/**
 * The scaling benchmark's chart: one panel per mode side by side, replicas and backlog over time with
 * the burst shaded. SVG drawn here, PNG through resvg (as the demo's report).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import type { RunResult } from './scaling-run';

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const C = { replicas: '#1d3557', backlog: '#457b9d', age: '#e76f51', grid: '#e5e7eb', text: '#374151', burst: '#fdecea' };

function polyline(points: Array<[number, number]>, color: string, width: number, dash = ''): string {
  const d = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${d}"/>`;
}

/** One mode's panel at (x0, y0), w × h; shared scales so the two panels compare at a glance. */
function panel(r: RunResult, x0: number, y0: number, w: number, h: number, scale: { tMax: number; rMax: number; bMax: number }): string {
  const X = (t: number) => x0 + (t / scale.tMax) * w;
  const half = (h - 30) / 2;
  const Yr = (v: number) => y0 + half - (v / scale.rMax) * half;
  const Yb = (v: number) => y0 + 30 + 2 * half - (v / scale.bMax) * half;
  const out: string[] = [];
  out.push(`<rect x="${X(r.burst.startS)}" y="${y0}" width="${X(r.burst.endS) - X(r.burst.startS)}" height="${h}" fill="${C.burst}"/>`);
  out.push(`<text x="${x0}" y="${y0 - 8}" font-family="${FONT}" font-size="16" font-weight="bold" fill="${C.text}">SCALING_MODE=${r.mode}</text>`);
  for (let v = 0; v <= scale.rMax; v += Math.max(1, Math.ceil(scale.rMax / 4))) {
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Yr(v)}" y2="${Yr(v)}" stroke="${C.grid}"/><text x="${x0 - 6}" y="${Yr(v) + 4}" text-anchor="end" font-family="${FONT}" font-size="11" fill="${C.text}">${v}</text>`);
  }
  const bStep = Math.max(1, Math.ceil(scale.bMax / 4 / 100) * 100);
  for (let v = 0; v <= scale.bMax; v += bStep) {
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Yb(v)}" y2="${Yb(v)}" stroke="${C.grid}"/><text x="${x0 - 6}" y="${Yb(v) + 4}" text-anchor="end" font-family="${FONT}" font-size="11" fill="${C.text}">${v}</text>`);
  }
  out.push(polyline(r.samples.map((s) => [X(s.t), Yr(s.replicas)]), C.replicas, 2.5));
  out.push(polyline(r.samples.map((s) => [X(s.t), Yb(s.outstanding)]), C.backlog, 2));
  out.push(`<text x="${x0 + 4}" y="${y0 + 14}" font-family="${FONT}" font-size="12" fill="${C.replicas}">replicas</text>`);
  out.push(`<text x="${x0 + 4}" y="${y0 + half + 44}" font-family="${FONT}" font-size="12" fill="${C.backlog}">backlog (outstanding entries)</text>`);
  for (let t = 0; t <= scale.tMax; t += 20) {
    out.push(`<text x="${X(t)}" y="${y0 + h + 16}" text-anchor="middle" font-family="${FONT}" font-size="11" fill="${C.text}">${t} s</text>`);
  }
  return out.join('\n');
}

/** Both runs side by side as SVG. */
export function renderScalingChart(results: readonly RunResult[], title: string): string {
  const W = 1200;
  const H = 520;
  const pw = (W - 120) / results.length - 40;
  const scale = {
    tMax: Math.ceil(Math.max(...results.flatMap((r) => r.samples.map((s) => s.t))) / 20) * 20,
    rMax: Math.max(1, ...results.flatMap((r) => r.samples.map((s) => s.replicas))) + 1,
    bMax: Math.max(100, ...results.flatMap((r) => r.samples.map((s) => s.outstanding))),
  };
  const panels = results.map((r, i) => panel(r, 70 + i * (pw + 80), 80, pw, H - 130, scale));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="30" text-anchor="middle" font-family="${FONT}" font-size="18" fill="${C.text}">${title}</text>`,
    `<text x="${W / 2}" y="50" text-anchor="middle" font-family="${FONT}" font-size="12" fill="${C.text}">same load (quiet, ramp, burst of 600 events/s shaded, quiet), real worker processes of 150 events/s each</text>`,
    ...panels,
    '</svg>',
  ].join('\n');
}

/** Writes the chart as PNG; returns its path. */
export async function writeScalingChart(results: readonly RunResult[], path: string, title = 'Lag mode (KEDA parity) vs rate mode'): Promise<string> {
  const svg = renderScalingChart(results, title);
  mkdirSync(dirname(path), { recursive: true });
  const png = new Resvg(svg, { font: { loadSystemFonts: true }, background: 'white' }).render().asPng();
  writeFileSync(path, png);
  writeFileSync(path.replace(/\.png$/, '.svg'), svg);
  return path;
}
