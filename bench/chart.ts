// bench/results/chart.svg, two panels of bar groups with a line at 1.0:
//  - datapaths: per metric, each datapath's median divided by the reference datapath's: vxlan-upstream (the real
//    upstream flanneld's kernel vxlan) when it was measured, else vxlan-kernel (the datapath upstream programs);
//  - same backend: per metric, tsflanneld's row divided by the real upstream's row of that backend (udp ÷ udp-upstream);
//  - control plane: per figure, each tsflanneld daemon's value divided by upstream flanneld's.
// Hand-written SVG text. Pure.
import { CONTROL_FIGURES, controlLabel, controlRatio } from './control-figures.js';
import type { PairRatios } from './pairs.js';
import {
  DATAPATH_METRICS, METRIC_INFO, type ControlResult, type DatapathMetric, type DatapathResult,
} from './results.js';

export const UPSTREAM_DATAPATH = 'vxlan-upstream';
export const FALLBACK_REFERENCE = 'vxlan-kernel';
/** Bars taller than this are clipped and labelled with their value. */
const MAX_RATIO = 3;
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];

/** Metrics charted: daemon CPU is left out because kernel datapaths cost the daemon ~0, which makes ratios meaningless. */
export const CHART_METRICS: readonly DatapathMetric[] = DATAPATH_METRICS.filter((m) => m !== 'cpu_s_per_gbit');

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function hasData(d: DatapathResult | undefined): d is DatapathResult {
  return d !== undefined && Object.values(d.metrics).some((v) => v !== null && v !== undefined);
}

/** The datapath every other one is divided by: upstream's own when it has figures, else vxlan-kernel. */
export function referenceDatapath(datapaths: readonly DatapathResult[]): DatapathResult | undefined {
  const up = datapaths.find((d) => d.name === UPSTREAM_DATAPATH);
  return hasData(up) ? up : datapaths.find((d) => d.name === FALLBACK_REFERENCE);
}

/** Ratio of `d`'s median to the reference's, or null if either is missing or the reference is 0. */
export function ratioToReference(d: DatapathResult, ref: DatapathResult | undefined, m: DatapathMetric): number | null {
  const a = d.metrics[m]?.median;
  const b = ref?.metrics[m]?.median;
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

interface Group {
  readonly label: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** One per series, null where there is no ratio. */
  readonly ratios: readonly (number | null)[];
}

interface Panel {
  readonly title: string;
  readonly subtitle: string;
  readonly series: readonly string[];
  readonly groups: readonly Group[];
}

const BAR_W = 22;
const GAP = 28;
const LEFT = 50;
const PLOT_H = 240;
const PER_ROW = 4;

function panelWidth(p: Panel): number {
  return LEFT + p.groups.length * (p.series.length * BAR_W + GAP) + 20;
}

function panelHeight(p: Panel): number {
  return 56 + PLOT_H + 62 + 20 * Math.ceil(p.series.length / PER_ROW);
}

/** Draws one panel with its top edge at `y0` into `out`. */
function drawPanel(out: string[], p: Panel, y0: number, width: number): void {
  const top = y0 + 56;
  const groupW = p.series.length * BAR_W + GAP;
  const y = (r: number): number => top + PLOT_H - (Math.min(r, MAX_RATIO) / MAX_RATIO) * PLOT_H;
  out.push(`<text x="${LEFT}" y="${y0 + 20}" font-size="14">${esc(p.title)}</text>`);
  out.push(`<text x="${LEFT}" y="${y0 + 36}" fill="#666">${esc(p.subtitle)}</text>`);
  for (let t = 0; t <= MAX_RATIO; t += 0.5) {
    out.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
    out.push(`<text x="${LEFT - 6}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text>`);
  }
  p.groups.forEach((g, gi) => {
    const gx = LEFT + gi * groupW + GAP / 2;
    g.ratios.forEach((r, si) => {
      const x = gx + si * BAR_W;
      if (r === null) {
        out.push(`<text x="${x + BAR_W / 2}" y="${top + PLOT_H - 4}" text-anchor="middle" fill="#999">×</text>`);
        return;
      }
      const yy = y(r);
      out.push(`<rect x="${x}" y="${yy.toFixed(1)}" width="${BAR_W - 2}" height="${(top + PLOT_H - yy).toFixed(1)}" `
        + `fill="${COLORS[si % COLORS.length] as string}"><title>${esc(`${p.series[si] ?? ''} ${g.label}: `
        + `${r.toFixed(3)}×`)}</title></rect>`);
      // Readers of a rendered image see no <title>: print the ratio over the bar (clipped bars at the top).
      const label = r >= 10 ? r.toFixed(0) : r.toFixed(2);
      out.push(`<text x="${x + (BAR_W - 2) / 2}" y="${(Math.max(yy, top) - 3).toFixed(1)}" text-anchor="middle" `
        + `font-size="8">${label}</text>`);
    });
    const cx = gx + (p.series.length * BAR_W) / 2;
    out.push(`<text x="${cx}" y="${top + PLOT_H + 16}" text-anchor="middle">${esc(g.label)}</text>`);
    out.push(`<text x="${cx}" y="${top + PLOT_H + 30}" text-anchor="middle" fill="#666">`
      + `${esc(g.unit)} ${g.higherIsBetter ? '↑' : '↓'}</text>`);
  });
  out.push(`<line x1="${LEFT}" x2="${width - 10}" y1="${y(1)}" y2="${y(1)}" stroke="#000" stroke-dasharray="4 3"/>`);
  p.series.forEach((name, si) => {
    const lx = LEFT + (si % PER_ROW) * 180;
    const ly = top + PLOT_H + 54 + Math.floor(si / PER_ROW) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[si % COLORS.length] as string}"/>`);
    out.push(`<text x="${lx + 18}" y="${ly}">${esc(name)}</text>`);
  });
}

function datapathPanel(datapaths: readonly DatapathResult[]): Panel {
  const ref = referenceDatapath(datapaths);
  const refName = ref?.name ?? FALLBACK_REFERENCE;
  return {
    title: `Each datapath relative to ${refName} (dashed line = 1.0)`,
    subtitle: `median ÷ ${refName}'s median; ↑ higher is better, ↓ lower is better; bars above `
      + `${MAX_RATIO.toFixed(1)} are clipped and labelled`,
    series: datapaths.map((d) => d.name + (d.errors.length > 0 && !hasData(d) ? ' (failed)' : '')),
    groups: CHART_METRICS.map((m) => ({ label: METRIC_INFO[m].label, unit: METRIC_INFO[m].unit,
      higherIsBetter: METRIC_INFO[m].higherIsBetter, ratios: datapaths.map((d) => ratioToReference(d, ref, m)) })),
  };
}

function pairPanel(pairs: readonly PairRatios[]): Panel {
  return {
    title: 'Same backend: tsflanneld relative to the real upstream flanneld v0.28.9, same run (dashed line = 1.0)',
    subtitle: `tsflanneld's median ÷ upstream's median; ↑ higher is better, ↓ lower is better; bars above `
      + `${MAX_RATIO.toFixed(1)} are clipped and labelled`,
    series: pairs.map((p) => p.label),
    groups: CHART_METRICS.map((m) => ({ label: METRIC_INFO[m].label, unit: METRIC_INFO[m].unit,
      higherIsBetter: METRIC_INFO[m].higherIsBetter, ratios: pairs.map((p) => p.ratios[m]) })),
  };
}

function controlPanel(controls: readonly ControlResult[]): Panel {
  const own = controls.filter((c) => c.name !== 'upstream');
  return {
    title: 'Control plane: each tsflanneld relative to upstream flanneld v0.28.9 (dashed line = 1.0)',
    subtitle: 'value ÷ upstream\'s; ↓ lower is better except the programming rate; × = not measured',
    series: own.map(controlLabel),
    groups: CONTROL_FIGURES.map((f) => ({ label: f.short, unit: f.unit, higherIsBetter: f.higherIsBetter,
      ratios: own.map((c) => controlRatio(f, c, controls)) })),
  };
}

/**
 * The datapath panel, the same-backend panel when a pair (bench/pairs.ts) was measured, and the control-plane panel
 * when upstream's control plane was measured.
 */
export function svgChart(datapaths: readonly DatapathResult[], controls: readonly ControlResult[] = [],
  pairs: readonly PairRatios[] = []): string {
  const panels: Panel[] = [];
  if (datapaths.length > 0) panels.push(datapathPanel(datapaths));
  if (pairs.length > 0) panels.push(pairPanel(pairs));
  if (controls.some((c) => c.name === 'upstream') && controls.length > 1) panels.push(controlPanel(controls));
  const width = Math.max(400, ...panels.map(panelWidth));
  const height = Math.max(60, panels.reduce((h, p) => h + panelHeight(p), 0));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" `
    + 'font-family="sans-serif" font-size="11">');
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  let y0 = 0;
  for (const p of panels) {
    drawPanel(out, p, y0, width);
    y0 += panelHeight(p);
  }
  if (panels.length === 0) out.push(`<text x="${LEFT}" y="30">nothing measured</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
