// `npm run bench -- [flags]`: the benchmark's settings, with the --quick preset. Pure (argv in, options out).
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { CONTROL_DAEMONS, type ControlDaemonName } from './results.js';

export const ALL_DATAPATHS = [
  'underlay', 'host-gw', 'vxlan-kernel', 'vxlan-userspace', 'vxlan-upstream', 'udp', 'udp-upstream',
  'vxlan-kernel-v6', 'vxlan-userspace-v6',
] as const;
export type DatapathName = typeof ALL_DATAPATHS[number];

/** The rows run by the real upstream flanneld binary (dropped by --no-upstream or when it cannot be had). */
export const UPSTREAM_DATAPATHS: readonly DatapathName[] = ['vxlan-upstream', 'udp-upstream'];

export function isUpstreamDatapath(name: string): boolean {
  return (UPSTREAM_DATAPATHS as readonly string[]).includes(name);
}

export interface BenchOptions {
  readonly quick: boolean;
  readonly datapaths: readonly DatapathName[];
  readonly repetitions: number;
  /** Seconds per iperf3 run. */
  readonly seconds: number;
  /** iperf3 -O: leading seconds left out of the result (TCP slow start). */
  readonly omitSeconds: number;
  readonly pingCount: number;
  readonly peers: number;
  readonly outDir: string;
  readonly controlPlane: boolean;
  /** The daemons whose control plane is measured. */
  readonly controlDaemons: readonly ControlDaemonName[];
  /** Build and run the real upstream flanneld (its datapath row and control row); false drops both. */
  readonly upstream: boolean;
  /** Timed starts per daemon (start → subnet.env / READY are their medians). */
  readonly starts: number;
  /** Seconds a started daemon idles before its idle RSS and threads are read. */
  readonly idleSeconds: number;
  /** Seconds over which its idle CPU is counted (right after idleSeconds). */
  readonly idleCpuSeconds: number;
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1, got "${v}"`);
    return n;
  };
}

function nameList<T extends string>(flag: string, all: readonly T[]) {
  return (v: string): T[] => {
    const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const n of names) {
      if (!(all as readonly string[]).includes(n)) {
        throw new InvalidArgumentError(`${flag}: unknown name "${n}": choose from ${all.join(', ')}`);
      }
    }
    if (names.length === 0) throw new InvalidArgumentError(`${flag}: name at least one of ${all.join(', ')}`);
    return names as T[];
  };
}

/** Parses the flags after `node dist/bench/main.js`; throws CommanderError (with exitCode) on bad input or --help. */
export function parseBenchOptions(argv: readonly string[], defaultOutDir: string): BenchOptions {
  const program = new Command('npm run bench --')
    .description('Benchmarks every datapath and the control plane on a namespace testbed')
    .option('--quick', 'short runs: 2 repetitions of 1 s, 100 peers, 2 starts, 3 s + 5 s idle per daemon', false)
    .option('--datapaths <list>', `comma-separated subset of ${ALL_DATAPATHS.join(',')}`,
      nameList('--datapaths', ALL_DATAPATHS))
    .option('--reps <n>', 'repetitions per datapath (default 5, quick 2)', positiveInt('--reps'))
    .option('--seconds <n>', 'seconds per iperf3 run (default 5, quick 1)', positiveInt('--seconds'))
    .option('--peers <n>', 'synthetic peer leases for the control-plane test (default 1000, quick 100)', positiveInt('--peers'))
    .option('--no-control-plane', 'skip the control-plane measurements')
    .option('--no-datapaths', 'skip the datapath measurements')
    .option('--control <list>', `comma-separated subset of ${CONTROL_DAEMONS.join(',')}`,
      nameList('--control', CONTROL_DAEMONS))
    .option('--no-upstream', 'leave out the real upstream flanneld (its build, datapath row and control row)')
    .option('--starts <n>', 'timed starts per daemon (default 5, quick 2)', positiveInt('--starts'))
    .option('--idle-seconds <n>', 'idle time before RSS and threads are read (default 30, quick 3)', positiveInt('--idle-seconds'))
    .option('--idle-cpu-seconds <n>', 'window over which idle CPU is counted (default 60, quick 5)',
      positiveInt('--idle-cpu-seconds'))
    .option('--out <dir>', 'where latest.json, report.md and chart.svg go', defaultOutDir)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .allowExcessArguments(false);
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{ quick: boolean; reps?: number; seconds?: number;
    peers?: number; controlPlane: boolean; datapaths?: DatapathName[] | false; out: string;
    control?: ControlDaemonName[]; upstream: boolean; starts?: number; idleSeconds?: number; idleCpuSeconds?: number }>();
  const seconds = o.seconds ?? (o.quick ? 1 : 5);
  const withUpstream = <T extends string>(names: readonly T[]): T[] =>
    names.filter((n) => o.upstream || (n !== 'upstream' && !isUpstreamDatapath(n)));
  return {
    quick: o.quick,
    datapaths: withUpstream(o.datapaths === false ? [] : o.datapaths ?? [...ALL_DATAPATHS]),
    repetitions: o.reps ?? (o.quick ? 2 : 5),
    seconds,
    omitSeconds: seconds >= 3 ? 1 : 0,
    pingCount: o.quick ? 100 : 200,
    peers: o.peers ?? (o.quick ? 100 : 1000),
    outDir: o.out,
    controlPlane: o.controlPlane,
    controlDaemons: o.controlPlane ? withUpstream(o.control ?? [...CONTROL_DAEMONS]) : [],
    upstream: o.upstream,
    starts: o.starts ?? (o.quick ? 2 : 5),
    idleSeconds: o.idleSeconds ?? (o.quick ? 3 : 30),
    idleCpuSeconds: o.idleCpuSeconds ?? (o.quick ? 5 : 60),
  };
}

export { CommanderError };
