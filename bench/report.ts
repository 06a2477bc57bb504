// The human-readable results: a plain-text table for stdout and the Markdown report. Pure.
import { fmtNumber, fmtSpread, textTable } from './format.js';
import { DATAPATH_METRICS, METRIC_INFO, type BenchReport, type ControlResult, type DatapathResult } from './results.js';

function datapathHeader(): string[] {
  return ['datapath', ...DATAPATH_METRICS.map((m) => `${METRIC_INFO[m].label} (${METRIC_INFO[m].unit})`)];
}

function datapathCells(d: DatapathResult): string[] {
  return [d.name, ...DATAPATH_METRICS.map((m) => fmtSpread(d.metrics[m], m))];
}

function controlRows(c: ControlResult): string[][] {
  return [
    ['start → subnet.env', fmtNumber(c.subnetEnvMs, 0), 'ms'],
    ['start → READY (/readyz 200)', fmtNumber(c.readyMs, 0), 'ms'],
    [`convergence p50 (${c.peers} peers)`, fmtNumber(c.convergeP50Ms, 1), 'ms'],
    [`convergence p99 (${c.peers} peers)`, fmtNumber(c.convergeP99Ms, 1), 'ms'],
    [`convergence total (${c.peers} peers)`, fmtNumber(c.convergeTotalMs, 0), 'ms'],
    ['netlink programming rate', fmtNumber(c.programPerS, 0), 'routes/s'],
    [`daemon RSS at ${c.peers} peers`, fmtNumber(c.rssMb, 1), 'MiB'],
  ];
}

function errorLines(r: BenchReport): string[] {
  const lines = r.datapaths.flatMap((d) => d.errors.map((e) => `${d.name}: ${e}`));
  return [...lines, ...r.control.errors.map((e) => `control plane: ${e}`)];
}

/** What `npm run bench` prints at the end. */
export function textReport(r: BenchReport): string {
  const parts = r.datapaths.length === 0 ? [] : [
    'Datapaths, container to container across two hosts: median [min–max]',
    textTable(datapathHeader(), r.datapaths.map(datapathCells)),
    '',
  ];
  parts.push(
    'Control plane',
    textTable(['measure', 'value', 'unit'], controlRows(r.control)),
  );
  const errs = errorLines(r);
  if (errs.length > 0) parts.push('', 'Errors', ...errs.map((e) => `  ${e}`));
  return parts.join('\n');
}

function mdRow(cells: readonly string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
}

function mdTable(header: readonly string[], rows: readonly (readonly string[])[], alignRight = true): string {
  const sep = header.map((_, i) => (i === 0 || !alignRight ? '---' : '---:'));
  return [mdRow(header), mdRow(sep), ...rows.map(mdRow)].join('\n');
}

/** bench/results/report.md: the tables, the chart, the machine, and the errors if any. */
export function markdownReport(r: BenchReport, chartFile = 'chart.svg'): string {
  const m = r.machine;
  const machineRows = Object.entries(m).map(([k, v]) => [k, String(v)]);
  const lines = [
    '# tsflanneld benchmark',
    '',
    `Run ${String(m.date ?? '')}, ${String(m.mode ?? '')} mode: ${String(m.repetitions ?? '?')} repetition(s) per `
      + `datapath, interleaved; ${String(m.seconds_per_run ?? '?')} s per iperf3 run. Cells are median [min–max].`,
    '',
    '## Datapaths (container to container across two hosts)',
    '',
    mdTable(datapathHeader(), r.datapaths.map(datapathCells)),
    '',
    `![ratio of each datapath to vxlan-kernel per metric](${chartFile})`,
    '',
    '## Control plane',
    '',
    mdTable(['measure', 'value', 'unit'], controlRows(r.control)),
    '',
    '## Machine',
    '',
    mdTable(['item', 'value'], machineRows, false),
  ];
  const errs = errorLines(r);
  if (errs.length > 0) lines.push('', '## Errors', '', ...errs.map((e) => `- ${e}`));
  return `${lines.join('\n')}\n`;
}
