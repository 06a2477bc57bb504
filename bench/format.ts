// Cell formatting shared by the stdout table and the Markdown report. Pure.
import { METRIC_INFO, type DatapathMetric } from './results.js';
import type { Spread } from './stats.js';

export function fmtNumber(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toFixed(digits);
}

/** "median [min–max]", or the median alone when only one sample exists. */
export function fmtSpread(s: Spread | null | undefined, metric: DatapathMetric): string {
  if (s === null || s === undefined) return '–';
  const d = METRIC_INFO[metric].digits;
  if (s.n === 1 || s.min === s.max) return fmtNumber(s.median, d);
  return `${fmtNumber(s.median, d)} [${fmtNumber(s.min, d)}–${fmtNumber(s.max, d)}]`;
}

/** Pads columns to a plain-text table (first column left-aligned, the rest right-aligned). */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: readonly string[]): string => r.map((cell, i) => {
    const pad = ' '.repeat((widths[i] ?? 0) - [...cell].length);
    return i === 0 ? cell + pad : pad + cell;
  }).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
