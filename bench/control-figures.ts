// The control-plane figures as rows of the report and groups of the chart: label, unit, which way is better, and
// each daemon's value and ratio to upstream's. One catalogue, so the table and the chart cannot disagree. Pure.
import { CONTROL_LABELS, ratio, type ControlResult } from './results.js';

export interface ControlFigure {
  /** Row label; may name the run's settings (peers, idle seconds). */
  readonly label: (c: ControlResult) => string;
  /** Short label for the chart. */
  readonly short: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  readonly digits: number;
  readonly value: (c: ControlResult) => number | null;
}

export const CONTROL_FIGURES: readonly ControlFigure[] = [
  { label: (c) => `start → subnet.env (median of ${c.starts})`, short: 'start → subnet.env', unit: 'ms',
    higherIsBetter: false, digits: 0, value: (c) => c.subnetEnvMs },
  { label: (c) => `start → READY, /readyz 200 (median of ${c.starts})`, short: 'start → READY', unit: 'ms',
    higherIsBetter: false, digits: 0, value: (c) => c.readyMs },
  { label: (c) => `RSS idle (after ${c.idleSeconds} s)`, short: 'RSS idle', unit: 'MiB', higherIsBetter: false,
    digits: 1, value: (c) => c.idleRssMb },
  { label: () => '… private (RssAnon)', short: 'RSS idle private', unit: 'MiB', higherIsBetter: false, digits: 1,
    value: (c) => c.idleRssAnonMb },
  { label: () => '… file-backed, shared (RssFile)', short: 'RSS idle file', unit: 'MiB', higherIsBetter: false,
    digits: 1, value: (c) => c.idleRssFileMb },
  { label: (c) => `idle CPU (over ${c.idleCpuWindowS} s)`, short: 'idle CPU', unit: 's', higherIsBetter: false,
    digits: 3, value: (c) => c.idleCpuS },
  { label: () => 'threads (idle)', short: 'threads', unit: '', higherIsBetter: false, digits: 0, value: (c) => c.threads },
  { label: (c) => `convergence p50 (${c.peers} peers)`, short: 'converge p50', unit: 'ms', higherIsBetter: false,
    digits: 1, value: (c) => c.convergeP50Ms },
  { label: (c) => `convergence p99 (${c.peers} peers)`, short: 'converge p99', unit: 'ms', higherIsBetter: false,
    digits: 1, value: (c) => c.convergeP99Ms },
  { label: (c) => `convergence total (${c.peers} peers)`, short: 'converge total', unit: 'ms', higherIsBetter: false,
    digits: 0, value: (c) => c.convergeTotalMs },
  { label: () => 'netlink programming rate', short: 'program rate', unit: 'routes/s', higherIsBetter: true,
    digits: 0, value: (c) => c.programPerS },
  { label: (c) => `RSS at ${c.peers} peers`, short: 'RSS at peers', unit: 'MiB', higherIsBetter: false, digits: 1,
    value: (c) => c.rssMb },
  { label: () => '… private (RssAnon)', short: 'RSS peers private', unit: 'MiB', higherIsBetter: false, digits: 1,
    value: (c) => c.rssAnonMb },
  { label: () => '… file-backed, shared (RssFile)', short: 'RSS peers file', unit: 'MiB', higherIsBetter: false,
    digits: 1, value: (c) => c.rssFileMb },
];

export function controlLabel(c: ControlResult): string {
  return CONTROL_LABELS[c.name];
}

/** Upstream's row if it was measured. */
export function upstreamControl(controls: readonly ControlResult[]): ControlResult | undefined {
  return controls.find((c) => c.name === 'upstream');
}

/** The figure of `c` divided by upstream's, or null (no upstream row, a missing value, or c is upstream). */
export function controlRatio(f: ControlFigure, c: ControlResult, controls: readonly ControlResult[]): number | null {
  const up = upstreamControl(controls);
  if (up === undefined || up === c) return null;
  return ratio(f.value(c), f.value(up));
}

/** "1.52×" or "–". */
export function fmtRatio(r: number | null): string {
  if (r === null) return '–';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}
