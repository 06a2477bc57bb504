// The human-readable results: a plain-text table for stdout and the Markdown report, each with the ratios to the
// real upstream flanneld where it was measured. Pure.
import { CHART_METRICS, ratioToReference, referenceDatapath } from './chart.js';
import {
  CONTROL_FIGURES, controlLabel, controlRatio, fmtRatio, loopsShareLine, runtimeFloorLine, upstreamControl,
} from './control-figures.js';
import { fmtNumber, fmtSpread, textTable } from './format.js';
import { pairRatios } from './pairs.js';
import { WRITER_CLIENTS, WRITER_IN_FLIGHT } from './agents/writer-plan.js';
import { roundRatios, roundRatioSpread, type StartFigure } from './start-rounds.js';
import { DATAPATH_METRICS, METRIC_INFO, type BenchReport, type ControlResult, type DatapathResult } from './results.js';

function datapathHeader(): string[] {
  return ['datapath', ...DATAPATH_METRICS.map((m) => `${METRIC_INFO[m].label} (${METRIC_INFO[m].unit})`)];
}

function datapathCells(d: DatapathResult): string[] {
  return [d.name, ...DATAPATH_METRICS.map((m) => fmtSpread(d.metrics[m], m))];
}

/** One column per daemon, and beside each tsflanneld column its ratio to upstream's when upstream was measured. */
function controlHeader(controls: readonly ControlResult[]): string[] {
  const withRatio = upstreamControl(controls) !== undefined;
  return ['measure', ...controls.flatMap((c) => (c.name !== 'upstream' && withRatio
    ? [controlLabel(c), '× upstream'] : [controlLabel(c)])), 'unit'];
}

function controlRows(controls: readonly ControlResult[]): string[][] {
  const withRatio = upstreamControl(controls) !== undefined;
  const first = controls[0];
  if (first === undefined) return [];
  return CONTROL_FIGURES.map((f) => [f.label(first), ...controls.flatMap((c) => {
    const v = fmtNumber(f.value(c), f.digits);
    return c.name !== 'upstream' && withRatio ? [v, fmtRatio(controlRatio(f, c, controls))] : [v];
  }), f.unit]);
}

/** The ratio table's columns: the chart's metrics (daemon CPU of a kernel datapath is ~0, no ratio means much). */
function ratioHeader(): string[] {
  return ['datapath', ...CHART_METRICS.map((m) => METRIC_INFO[m].label)];
}

/** Datapath medians divided by the reference datapath's (upstream's when measured). */
function ratioRows(datapaths: readonly DatapathResult[]): string[][] {
  const ref = referenceDatapath(datapaths);
  return datapaths.filter((d) => d !== ref).map((d) => [d.name,
    ...CHART_METRICS.map((m) => fmtRatio(ratioToReference(d, ref, m)))]);
}

/** tsflanneld ÷ upstream with the same backend (udp ÷ udp-upstream), when both rows were run. */
function pairRows(datapaths: readonly DatapathResult[]): string[][] {
  return pairRatios(datapaths).map((p) => [p.label, ...CHART_METRICS.map((m) => fmtRatio(p.ratios[m]))]);
}

/** "1.52× [1.30–1.80]" of the per-round ratios, or "–". */
function fmtRoundRatios(c: ControlResult, up: ControlResult, figure: StartFigure): string {
  const sp = roundRatioSpread(roundRatios(c.startRounds, up.startRounds, figure));
  return sp === null ? '–' : `${fmtRatio(sp.median)} [${fmtRatio(sp.min)}–${fmtRatio(sp.max)}] over ${sp.n}`;
}

/**
 * How the starts were timed, and per tsflanneld column the median [min–max] of its per-round ratios to upstream
 * (each round's start ÷ upstream's start of the same round), beside the headline ratio of the medians.
 */
export function startRoundLines(controls: readonly ControlResult[]): string[] {
  const up = upstreamControl(controls);
  const rounds = Math.max(0, ...controls.map((c) => c.startRounds.length));
  if (rounds === 0) return [];
  const how = controls.length > 1
    ? `The timed starts ran in ${rounds} rounds, each starting (and stopping) every daemon once, the first daemon `
      + 'rotating from round to round, after every testbed was built and every code cache warmed.'
    : `The ${rounds} timed starts ran one after the other (one daemon: nothing to interleave).`;
  if (up === undefined) return [how];
  const lines = [`${how} The "× upstream" of the start rows is the ratio of the medians (the headline); each round's `
    + 'start ÷ upstream\'s start of the same round, median [min–max] over the rounds:'];
  for (const c of controls) {
    if (c === up) continue;
    lines.push(`  ${controlLabel(c)}: subnet.env ${fmtRoundRatios(c, up, 'subnetEnvMs')}, `
      + `READY ${fmtRoundRatios(c, up, 'readyMs')}`);
  }
  return lines;
}

/**
 * The writer's own time beside each total: a total counts from the writer's first put, so it is never shorter than
 * the writer's time, and a slow writer (a loaded machine) shows up here rather than as a slow daemon. Null when no
 * convergence was measured.
 */
export function writerLine(controls: readonly ControlResult[]): string | null {
  const measured = controls.filter((c) => c.convergeWriterMs !== null && c.convergeTotalMs !== null);
  if (measured.length === 0) return null;
  const each = measured.map((c) => `${controlLabel(c)} ${(c.convergeWriterMs as number).toFixed(0)} ms (total `
    + `${(c.convergeTotalMs as number).toFixed(0)} ms)`);
  return `Convergence: the bench's writer (${WRITER_IN_FLIGHT} puts in flight over ${WRITER_CLIENTS} connections to `
    + `etcd) took, for its ${measured[0]?.peers ?? 0} puts, first sent → last acknowledged: ${each.join(', ')}. `
    + 'A total counts from the first put and is never shorter than its writer\'s time.';
}

function errorLines(r: BenchReport): string[] {
  const lines = r.datapaths.flatMap((d) => d.errors.map((e) => `${d.name}: ${e}`));
  return [...lines, ...r.controls.flatMap((c) => c.errors.map((e) => `control plane ${c.name}: ${e}`))];
}

/** What `npm run bench` prints at the end. */
export function textReport(r: BenchReport): string {
  const parts = r.datapaths.length === 0 ? [] : [
    'Datapaths, container to container across two hosts: median [min–max]',
    textTable(datapathHeader(), r.datapaths.map(datapathCells)),
    '',
  ];
  const ref = referenceDatapath(r.datapaths);
  if (ref !== undefined && r.datapaths.length > 1) {
    parts.push(`Datapaths ÷ ${ref.name} (median ratio)`, textTable(ratioHeader(), ratioRows(r.datapaths)), '');
  }
  const pairs = pairRows(r.datapaths);
  if (pairs.length > 0) {
    parts.push('Same backend, tsflanneld ÷ upstream flanneld (median ratio)', textTable(ratioHeader(), pairs), '');
  }
  if (r.controls.length > 0) {
    parts.push('Control plane (one host, vxlan DirectRouting)', textTable(controlHeader(r.controls), controlRows(r.controls)));
    parts.push(...startRoundLines(r.controls));
    const writer = writerLine(r.controls);
    if (writer !== null) parts.push(writer);
    const share = loopsShareLine(r.controls);
    if (share !== null) parts.push(share);
    const floor = runtimeFloorLine(r.runtimeFloor, r.controls);
    if (floor !== null) parts.push(floor);
  } else {
    parts.push('Control plane: not measured');
  }
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

function datapathRatioSection(datapaths: readonly DatapathResult[]): string[] {
  const ref = referenceDatapath(datapaths);
  if (ref === undefined || datapaths.length < 2) return [];
  return [`Median ÷ ${ref.name}'s median (${ref.name === 'vxlan-upstream'
    ? 'the real upstream flanneld v0.28.9 on both hosts, kernel vxlan' : 'upstream was not measured'}):`, '',
  mdTable(ratioHeader(), ratioRows(datapaths)), ''];
}

function pairSection(datapaths: readonly DatapathResult[]): string[] {
  const rows = pairRows(datapaths);
  if (rows.length === 0) return [];
  return ['Same backend, tsflanneld\'s median ÷ the real upstream flanneld v0.28.9\'s median, both pairs of hosts '
    + 'measured interleaved in this run (throughput: above 1 is better; RTT and CPU: below 1 is better):', '',
  mdTable(ratioHeader(), rows), ''];
}

/** A sentence of the Markdown report as its own paragraph, or nothing when there is none. */
function paragraph(line: string | null): string[] {
  return line === null ? [] : ['', line];
}

function mdStartRounds(controls: readonly ControlResult[]): string[] {
  const lines = startRoundLines(controls);
  if (lines.length === 0) return [];
  return ['', lines[0] as string, ...(lines.length > 1 ? [''] : []),
    ...lines.slice(1).map((l) => `- ${l.trim()}`)];
}

function controlSection(controls: readonly ControlResult[]): string[] {
  if (controls.length === 0) return ['Not measured.'];
  return ['One host, vxlan with DirectRouting (every datapath programs one kernel route per peer); synthetic peer '
    + 'leases written to etcd while the daemon runs. READY is the first 200 from /readyz for every daemon (upstream '
    + 'v0.28.9 serves it once subnet.env is written and its traffic rules are in place). "× upstream" is the value '
    + 'divided by upstream flanneld\'s: below 1 is better, except the programming rate.', '',
  mdTable(controlHeader(controls), controlRows(controls)), ...mdStartRounds(controls),
  ...paragraph(writerLine(controls)), ...paragraph(loopsShareLine(controls))];
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
    ...datapathRatioSection(r.datapaths),
    ...pairSection(r.datapaths),
    `![each datapath relative to ${referenceDatapath(r.datapaths)?.name ?? 'vxlan-kernel'} per metric, and each `
      + `tsflanneld's control plane relative to upstream flanneld's](${chartFile})`,
    '',
    '## Control plane',
    '',
    ...controlSection(r.controls),
    ...paragraph(runtimeFloorLine(r.runtimeFloor, r.controls)),
    '',
    '## Machine',
    '',
    mdTable(['item', 'value'], machineRows, false),
  ];
  const errs = errorLines(r);
  if (errs.length > 0) lines.push('', '## Errors', '', ...errs.map((e) => `- ${e}`));
  return `${lines.join('\n')}\n`;
}
