// bench/results/chart.svg: for each metric a group of bars, one per datapath, showing its median divided by
// vxlan-kernel's (upstream's datapath), with a line at 1.0. Hand-written SVG text. Pure.
import { DATAPATH_METRICS, METRIC_INFO, type DatapathMetric, type DatapathResult } from './results.js';

export const REFERENCE_DATAPATH = 'vxlan-kernel';
/** Bars taller than this are clipped and labelled with their value. */
const MAX_RATIO = 3;
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948'];

/** Metrics charted: daemon CPU is left out because kernel datapaths cost the daemon ~0, which makes ratios meaningless. */
export const CHART_METRICS: readonly DatapathMetric[] = DATAPATH_METRICS.filter((m) => m !== 'cpu_s_per_gbit');

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Ratio of `d`'s median to the reference's, or null if either is missing or the reference is 0. */
export function ratioToReference(d: DatapathResult, ref: DatapathResult | undefined, m: DatapathMetric): number | null {
  const a = d.metrics[m]?.median;
  const b = ref?.metrics[m]?.median;
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

export function svgChart(datapaths: readonly DatapathResult[]): string {
  const ref = datapaths.find((d) => d.name === REFERENCE_DATAPATH);
  const barW = 22;
  const gap = 28;
  const groupW = datapaths.length * barW + gap;
  const left = 50;
  const top = 56;
  const plotH = 240;
  const width = left + CHART_METRICS.length * groupW + 20;
  const perRow = 4;
  const height = top + plotH + 62 + 20 * Math.ceil(datapaths.length / perRow);
  const y = (ratio: number): number => top + plotH - (Math.min(ratio, MAX_RATIO) / MAX_RATIO) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" `
    + 'font-family="sans-serif" font-size="11">');
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="20" font-size="14">Each datapath relative to ${REFERENCE_DATAPATH} (dashed line = 1.0)</text>`);
  out.push(`<text x="${left}" y="36" fill="#666">median ÷ ${REFERENCE_DATAPATH}'s median; ↑ higher is better, `
    + `↓ lower is better; bars above ${MAX_RATIO.toFixed(1)} are clipped and labelled</text>`);
  for (let t = 0; t <= MAX_RATIO; t += 0.5) {
    out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(1)}</text>`);
  }
  CHART_METRICS.forEach((m, gi) => {
    const gx = left + gi * groupW + gap / 2;
    datapaths.forEach((d, di) => {
      const r = ratioToReference(d, ref, m);
      const x = gx + di * barW;
      const color = COLORS[di % COLORS.length] as string;
      if (r === null) {
        out.push(`<text x="${x + barW / 2}" y="${top + plotH - 4}" text-anchor="middle" fill="#999">×</text>`);
        return;
      }
      const yy = y(r);
      out.push(`<rect x="${x}" y="${yy.toFixed(1)}" width="${barW - 2}" height="${(top + plotH - yy).toFixed(1)}" `
        + `fill="${color}"><title>${esc(`${d.name} ${METRIC_INFO[m].label}: ${r.toFixed(3)}×`)}</title></rect>`);
      // Readers of a rendered image see no <title>: print the ratio over the bar (clipped bars at the top).
      const label = r >= 10 ? r.toFixed(0) : r.toFixed(2);
      out.push(`<text x="${x + (barW - 2) / 2}" y="${(Math.max(yy, top) - 3).toFixed(1)}" text-anchor="middle" `
        + `font-size="8">${label}</text>`);
    });
    const info = METRIC_INFO[m];
    out.push(`<text x="${gx + (datapaths.length * barW) / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(info.label)}</text>`);
    out.push(`<text x="${gx + (datapaths.length * barW) / 2}" y="${top + plotH + 30}" text-anchor="middle" fill="#666">`
      + `${esc(info.unit)} ${info.higherIsBetter ? '↑' : '↓'}</text>`);
  });
  out.push(`<line x1="${left}" x2="${width - 10}" y1="${y(1)}" y2="${y(1)}" stroke="#000" stroke-dasharray="4 3"/>`);
  datapaths.forEach((d, di) => {
    const lx = left + (di % perRow) * 180;
    const ly = top + plotH + 54 + Math.floor(di / perRow) * 20;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[di % COLORS.length] as string}"/>`);
    const note = d.errors.length > 0 && Object.keys(d.metrics).length === 0 ? ' (failed)' : '';
    out.push(`<text x="${lx + 18}" y="${ly}">${esc(d.name + note)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
