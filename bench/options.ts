// `npm run bench -- [flags]`: the benchmark's settings, with the --quick preset. Pure (argv in, options out).
import { Command, CommanderError, InvalidArgumentError } from 'commander';

export const ALL_DATAPATHS = ['underlay', 'host-gw', 'vxlan-kernel', 'vxlan-userspace'] as const;
export type DatapathName = typeof ALL_DATAPATHS[number];

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
}

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1, got "${v}"`);
    return n;
  };
}

function datapathList(v: string): DatapathName[] {
  const names = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(ALL_DATAPATHS as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`unknown datapath "${n}": choose from ${ALL_DATAPATHS.join(', ')}`);
    }
  }
  if (names.length === 0) throw new InvalidArgumentError('name at least one datapath');
  return names as DatapathName[];
}

/** Parses the flags after `node dist/bench/main.js`; throws CommanderError (with exitCode) on bad input or --help. */
export function parseBenchOptions(argv: readonly string[], defaultOutDir: string): BenchOptions {
  const program = new Command('npm run bench --')
    .description('Benchmarks every datapath and the control plane on a namespace testbed')
    .option('--quick', 'short runs: 2 repetitions of 1 s, 100 peers (under a minute of measuring)', false)
    .option('--datapaths <list>', `comma-separated subset of ${ALL_DATAPATHS.join(',')}`, datapathList)
    .option('--reps <n>', 'repetitions per datapath (default 5, quick 2)', positiveInt('--reps'))
    .option('--seconds <n>', 'seconds per iperf3 run (default 5, quick 1)', positiveInt('--seconds'))
    .option('--peers <n>', 'synthetic peer leases for the control-plane test (default 1000, quick 100)', positiveInt('--peers'))
    .option('--no-control-plane', 'skip the control-plane measurements')
    .option('--no-datapaths', 'skip the datapath measurements')
    .option('--out <dir>', 'where latest.json, report.md and chart.svg go', defaultOutDir)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .allowExcessArguments(false);
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{ quick: boolean; reps?: number; seconds?: number;
    peers?: number; controlPlane: boolean; datapaths?: DatapathName[] | false; out: string }>();
  const seconds = o.seconds ?? (o.quick ? 1 : 5);
  return {
    quick: o.quick,
    datapaths: o.datapaths === false ? [] : o.datapaths ?? [...ALL_DATAPATHS],
    repetitions: o.reps ?? (o.quick ? 2 : 5),
    seconds,
    omitSeconds: seconds >= 3 ? 1 : 0,
    pingCount: o.quick ? 100 : 200,
    peers: o.peers ?? (o.quick ? 100 : 1000),
    outDir: o.out,
    controlPlane: o.controlPlane,
  };
}

export { CommanderError };
