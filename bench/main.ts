// `npm run bench [-- --quick]`: builds one namespace testbed per datapath, measures them interleaved (round robin,
// start rotated every repetition), then the control plane, and writes latest.json, report.md and chart.svg.
// Testbeds remove themselves on every exit path (normal end, error, SIGINT/SIGTERM) through the harness's hooks.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { svgChart } from './chart.js';
import { measureControlPlane } from './control-plane.js';
import { measureRepetition, warmUp, type RunSettings } from './measure.js';
import { CommanderError, parseBenchOptions, type BenchOptions, type DatapathName } from './options.js';
import { buildPath, type PathUnderTest } from './paths.js';
import { snapshotMachine } from './proc.js';
import { progress } from './progress.js';
import { markdownReport, textReport } from './report.js';
import {
  toLatestJson, type BenchReport, type ControlResult, type DatapathMetric, type DatapathResult, type MachineInfo,
} from './results.js';
import { interleave } from './schedule.js';
import { spread } from './stats.js';
import { missingTools } from './tools.js';

const DEFAULT_OUT = path.resolve(__dirname, '..', '..', 'bench', 'results');

interface Collected {
  readonly samples: Partial<Record<DatapathMetric, number[]>>;
  readonly errors: Set<string>;
}

/** How busy the machine was before the benchmark added anything: other work on it skews every figure. */
async function backgroundBusyPercent(): Promise<number> {
  const before = snapshotMachine();
  await new Promise((r) => setTimeout(r, 1000));
  const after = snapshotMachine();
  const total = after.totalTicks - before.totalTicks;
  return total > 0 ? Math.round((100 * (after.busyTicks - before.busyTicks)) / total) : 0;
}

interface StartConditions {
  readonly loadavg1m: number;
  readonly busyPercent: number;
}

function machineInfo(o: BenchOptions, notes: Record<string, string>, start: StartConditions): MachineInfo {
  const iperf = spawnSync('iperf3', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? '';
  const info: Record<string, string | number | boolean> = {
    date: new Date().toISOString(),
    mode: o.quick ? 'quick' : 'full',
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model.trim() ?? '',
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    iperf3: iperf,
    loadavg_1m_at_start: start.loadavg1m,
    busy_percent_before_start: start.busyPercent,
    loadavg_1m_at_end: Number(os.loadavg()[0]?.toFixed(2)),
    repetitions: o.repetitions,
    seconds_per_run: o.seconds,
    ping_count: o.pingCount,
    topology: 'one VM: two host namespaces on a veth/bridge underlay (192.0.2.0/24), one container namespace each',
  };
  for (const [name, note] of Object.entries(notes)) info[`note_${name}`] = note;
  return info;
}

function summarise(name: DatapathName, c: Collected): DatapathResult {
  const metrics: DatapathResult['metrics'] = {};
  for (const [m, xs] of Object.entries(c.samples) as [DatapathMetric, number[]][]) metrics[m] = spread(xs);
  return { name, metrics, errors: [...c.errors] };
}

async function measureDatapaths(o: BenchOptions): Promise<{ results: DatapathResult[]; notes: Record<string, string> }> {
  const built: PathUnderTest[] = [];
  const collected = new Map<DatapathName, Collected>();
  const notes: Record<string, string> = {};
  for (const name of o.datapaths) collected.set(name, { samples: {}, errors: new Set() });
  const settings: RunSettings = { seconds: o.seconds, omitSeconds: o.omitSeconds, pingCount: o.pingCount };
  try {
    for (const name of o.datapaths) {
      progress(`${name}: building the testbed`);
      try {
        const p = await buildPath(name);
        built.push(p);
        if (p.note !== '') notes[name] = p.note;
        progress(`${name}: ready (${p.clientNs} → ${p.serverIp})`);
      } catch (e) {
        const msg = (e as Error).message;
        collected.get(name)?.errors.add(`setup failed: ${msg.split('\n')[0] ?? msg}`);
        progress(`${name}: setup FAILED: ${msg.split('\n').slice(0, 6).join('\n    ')}`);
      }
    }
    for (const p of built) {
      progress(`${p.name}: warm-up`);
      await warmUp(p, settings);
    }
    const slots = interleave(built, o.repetitions);
    for (const [i, slot] of slots.entries()) {
      const p = slot.item;
      progress(`[${i + 1}/${slots.length}] repetition ${slot.repetition + 1}: ${p.name}`);
      const sample = await measureRepetition(p, settings);
      const c = collected.get(p.name) as Collected;
      for (const [m, v] of Object.entries(sample.values) as [DatapathMetric, number][]) (c.samples[m] ??= []).push(v);
      for (const e of sample.errors) {
        c.errors.add(e);
        progress(`  ${p.name}: ${e}`);
      }
      const tcp = sample.values.tcp_gbps;
      if (tcp !== undefined) progress(`  ${p.name}: TCP ${tcp.toFixed(3)} Gbit/s, RTT ${sample.values.rtt_us?.toFixed(0) ?? '–'} µs`);
    }
  } finally {
    for (const p of built) {
      progress(`${p.name}: removing the testbed`);
      await p.testbed.destroy().catch((e: unknown) => progress(`${p.name}: cleanup failed: ${(e as Error).message}`));
    }
  }
  return { results: o.datapaths.map((n) => summarise(n, collected.get(n) as Collected)), notes };
}

function writeOutputs(o: BenchOptions, report: BenchReport): void {
  fs.mkdirSync(o.outDir, { recursive: true });
  fs.writeFileSync(path.join(o.outDir, 'latest.json'), `${JSON.stringify(toLatestJson(report), null, 2)}\n`);
  fs.writeFileSync(path.join(o.outDir, 'report.md'), markdownReport(report));
  fs.writeFileSync(path.join(o.outDir, 'chart.svg'), svgChart(report.datapaths));
}

/**
 * Says what happens on Ctrl-C. Put in front of the testbed harness's own handler, which then (in the same emit)
 * removes every namespace and exits; the fallback exit covers a signal before any testbed exists.
 */
function announceInterrupts(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.prependOnceListener(sig, () => {
      process.stderr.write(`\nbench: ${sig}: removing every testbed namespace and process, no results written\n`);
      setImmediate(() => process.exit(130));
    });
  }
}

async function main(): Promise<number> {
  announceInterrupts();
  let o: BenchOptions;
  try {
    o = parseBenchOptions(process.argv.slice(2), DEFAULT_OUT);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (it creates network namespaces)\n');
    return 2;
  }
  const missing = missingTools();
  if (missing.length > 0) {
    for (const m of missing) process.stderr.write(`bench: ${m}\n`);
    return 2;
  }
  progress(`mode ${o.quick ? 'quick' : 'full'}: ${o.datapaths.join(', ') || 'no datapaths'}; ${o.repetitions} repetitions of ${o.seconds} s; `
    + `${o.peers} peers`);
  const start: StartConditions = { loadavg1m: Number(os.loadavg()[0]?.toFixed(2)), busyPercent: await backgroundBusyPercent() };
  progress(`machine before start: ${start.busyPercent}% busy, load average ${start.loadavg1m}`);
  const { results, notes } = await measureDatapaths(o);
  let control: ControlResult = { peers: o.peers, readyMs: null, subnetEnvMs: null, convergeP50Ms: null,
    convergeP99Ms: null, convergeTotalMs: null, programPerS: null, rssMb: null, errors: ['skipped (--no-control-plane)'] };
  if (o.controlPlane) control = await measureControlPlane(o.peers, progress);
  const report: BenchReport = { datapaths: results, control, machine: machineInfo(o, notes, start) };
  writeOutputs(o, report);
  process.stdout.write(`\n${textReport(report)}\n\nWrote ${path.join(o.outDir, 'latest.json')}, report.md, chart.svg\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
