// What the benchmark ran on and under which conditions, for the `machine` part of the results.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import type { BenchOptions } from './options.js';
import { snapshotMachine } from './proc.js';
import type { MachineInfo } from './results.js';

/** How busy the machine was before the benchmark added anything: other work on it skews every figure. */
async function backgroundBusyPercent(): Promise<number> {
  const before = snapshotMachine();
  await new Promise((r) => setTimeout(r, 1000));
  const after = snapshotMachine();
  const total = after.totalTicks - before.totalTicks;
  return total > 0 ? Math.round((100 * (after.busyTicks - before.busyTicks)) / total) : 0;
}

export interface StartConditions {
  readonly date: string;
  readonly loadavg1m: number;
  readonly busyPercent: number;
}

/** Taken before any testbed exists. */
export async function startConditions(): Promise<StartConditions> {
  return { date: new Date().toISOString(), loadavg1m: Number(os.loadavg()[0]?.toFixed(2)),
    busyPercent: await backgroundBusyPercent() };
}

/** The `machine` object of latest.json: what ran the benchmark, how, and how loaded it was. */
export function machineInfo(o: BenchOptions, notes: Record<string, string>, start: StartConditions): MachineInfo {
  const iperf = spawnSync('iperf3', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? '';
  const info: Record<string, string | number | boolean> = {
    date: start.date,
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

