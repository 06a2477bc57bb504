// `npm run bench [-- --quick]`: builds one namespace testbed per datapath, measures them interleaved (round robin,
// start rotated every repetition), then the control plane (its timed starts interleaved the same way), and writes
// latest.json, report.md and chart.svg.
// Testbeds remove themselves on every exit path (normal end, error, SIGINT/SIGTERM) through the harness's hooks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { svgChart } from './chart.js';
import { measureControlPlanes } from './control-plane.js';
import type { DaemonCommand } from './daemons.js';
import { measureRepetition, warmUp, type RunSettings } from './measure.js';
import {
  CommanderError, isUpstreamDatapath, parseBenchOptions, type BenchOptions, type DatapathName,
} from './options.js';
import { machineInfo, startConditions } from './machine.js';
import { pairRatios, pairsJson } from './pairs.js';
import { buildPath, type PathUnderTest } from './paths.js';
import { progress } from './progress.js';
import { measureRuntimeFloor } from './runtime-floor.js';
import { markdownReport, textReport } from './report.js';
import {
  emptyControl, toLatestJson, type BenchReport, type ControlDaemonName, type ControlResult, type DatapathMetric,
  type DatapathResult, type RuntimeFloor,
} from './results.js';
import { interleave } from './schedule.js';
import { spread } from './stats.js';
import { missingTools } from './tools.js';
import { ensureUpstream } from './upstream.js';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_OUT = path.join(REPO_ROOT, 'bench', 'results');

interface Collected {
  readonly samples: Partial<Record<DatapathMetric, number[]>>;
  readonly errors: Set<string>;
}

function summarise(name: DatapathName, c: Collected): DatapathResult {
  const metrics: DatapathResult['metrics'] = {};
  for (const [m, xs] of Object.entries(c.samples) as [DatapathMetric, number[]][]) metrics[m] = spread(xs);
  return { name, metrics, errors: [...c.errors] };
}

/** Builds every datapath's testbed up front (into `built`); a failure becomes the row's error and the rest go on. */
async function buildPaths(names: readonly DatapathName[], upstreamBin: string | null, built: PathUnderTest[],
  collected: Map<DatapathName, Collected>): Promise<void> {
  for (const name of names) {
    progress(`${name}: building the testbed`);
    try {
      const p = await buildPath(name, upstreamBin);
      built.push(p);
      progress(`${name}: ready (${p.clientNs} → ${p.serverIp})`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0] ?? '';
      collected.get(name)?.errors.add(`setup failed: ${msg}`);
      progress(`${name}: setup FAILED: ${msg}`);
    }
  }
}

async function measureDatapaths(o: BenchOptions, upstreamBin: string | null):
Promise<{ results: DatapathResult[]; notes: Record<string, string> }> {
  const built: PathUnderTest[] = [];
  const collected = new Map<DatapathName, Collected>();
  for (const name of o.datapaths) collected.set(name, { samples: {}, errors: new Set() });
  const settings: RunSettings = { seconds: o.seconds, omitSeconds: o.omitSeconds, pingCount: o.pingCount };
  try {
    await buildPaths(o.datapaths, upstreamBin, built, collected);
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
  const notes = Object.fromEntries(built.map((p) => [p.name, p.note]));
  return { results: o.datapaths.map((n) => summarise(n, collected.get(n) as Collected)), notes };
}

function writeOutputs(o: BenchOptions, report: BenchReport): void {
  fs.mkdirSync(o.outDir, { recursive: true });
  const pairs = pairRatios(report.datapaths);
  // Additive to issue 6's schema: the same-backend ratios (udp ÷ udp-upstream) the backend's issue is judged by.
  const json = pairs.length > 0 ? { ...toLatestJson(report), same_backend: pairsJson(pairs) } : toLatestJson(report);
  fs.writeFileSync(path.join(o.outDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(path.join(o.outDir, 'report.md'), markdownReport(report));
  fs.writeFileSync(path.join(o.outDir, 'chart.svg'), svgChart(report.datapaths, report.controls, pairs));
}

/** The upstream binary when an upstream row is asked for and it can be had (else said once); null if not asked. */
async function upstreamBinary(o: BenchOptions): Promise<{ bin: string | null; note: string } | null> {
  const wanted = o.datapaths.some(isUpstreamDatapath) || o.controlDaemons.includes('upstream');
  if (!wanted) return null;
  const u = await ensureUpstream(REPO_ROOT, progress);
  if ('bin' in u) return { bin: u.bin, note: u.bin };
  progress(u.unavailable);
  return { bin: null, note: u.unavailable };
}

const CONTROL_COMMANDS: Readonly<Record<Exclude<ControlDaemonName, 'upstream'>, DaemonCommand>> = {
  'tsflanneld-kernel': { upstreamBin: null, args: ['--vxlan-datapath', 'kernel'] },
  'tsflanneld-userspace': { upstreamBin: null, args: ['--vxlan-datapath', 'userspace'] },
};

/**
 * One control-plane row per daemon, their timed starts interleaved (control-plane.ts); upstream's row is left out
 * (not failed) when its binary is not available.
 */
async function measureControls(o: BenchOptions, upstreamBin: string | null): Promise<ControlResult[]> {
  const settings = { peers: o.peers, starts: o.starts, idleSeconds: o.idleSeconds, idleCpuSeconds: o.idleCpuSeconds };
  const daemons = o.controlDaemons.flatMap((name): { name: ControlDaemonName; cmd: DaemonCommand }[] => {
    if (name !== 'upstream') return [{ name, cmd: CONTROL_COMMANDS[name] }];
    return upstreamBin === null ? [] : [{ name, cmd: { upstreamBin, args: [] } }];
  });
  if (daemons.length === 0) return [];
  return measureControlPlanes(daemons, settings, progress)
    .catch((e: unknown) => daemons.map((d) => emptyControl(d.name, o.peers, [(e as Error).message])));
}

/** The runtime's floor after the daemons' idle time, when their idle memory was measured (runtime-floor.ts). */
async function runtimeFloorOf(controls: readonly ControlResult[]): Promise<RuntimeFloor | null> {
  const idleSeconds = controls.find((c) => c.idleRssMb !== null)?.idleSeconds;
  if (idleSeconds === undefined) return null;
  progress(`runtime floor: Node.js + etcd3, idling ${idleSeconds} s`);
  const memory = await measureRuntimeFloor(idleSeconds);
  return memory === null ? null : { idleSeconds, memory };
}

/**
 * Says what happens on Ctrl-C. Put in front of the testbed harness's own handler, which then (in the same emit)
 * removes every namespace and exits; the fallback exit covers a signal before any testbed exists.
 */
function announceInterrupts(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.prependOnceListener(sig, () => {
      try {
        process.stderr.write(`\nbench: ${sig}: removing every testbed namespace and process, no results written\n`);
      } catch { /* stderr closed */ }
      setImmediate(() => process.exit(128 + (os.constants.signals[sig] ?? 1)));
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
  progress(`mode ${o.quick ? 'quick' : 'full'}: ${o.datapaths.join(', ') || 'no datapaths'}; `
    + `${o.repetitions} repetitions of ${o.seconds} s; ${o.peers} peers`);
  const start = await startConditions();
  progress(`machine before start: ${start.busyPercent}% busy, load average ${start.loadavg1m}`);
  const upstream = await upstreamBinary(o);
  const upstreamBin = upstream?.bin ?? null;
  // Without the binary the upstream rows are left out, not reported as failures: the one line above said why.
  const run = upstreamBin !== null ? o : { ...o, datapaths: o.datapaths.filter((n) => !isUpstreamDatapath(n)) };
  const { results, notes } = await measureDatapaths(run, upstreamBin);
  const controls = await measureControls(run, upstreamBin);
  const runtimeFloor = await runtimeFloorOf(controls);
  if (upstream !== null) notes.upstream = upstream.note;
  const report: BenchReport = { datapaths: results, controls, runtimeFloor, machine: machineInfo(o, notes, start) };
  writeOutputs(o, report);
  process.stdout.write(`\n${textReport(report)}\n\nWrote ${path.join(o.outDir, 'latest.json')}, report.md, chart.svg\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
