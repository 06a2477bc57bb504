// The benchmark's results as data, the metric catalogue, and the `latest.json` document built from them
// (schema from issue 6; `<metric>_min`/`<metric>_max` fields sit beside each median). Pure.
import { roundRatios, roundRatioSpread, type StartFigure, type StartSample } from './start-rounds.js';
import type { Spread } from './stats.js';
import type { ProcMemory } from './memory.js';

export const DATAPATH_METRICS = [
  'tcp_gbps', 'tcp4_gbps', 'tcp_rev_gbps', 'udp_kpps', 'rtt_us', 'rtt_p99_us', 'cpu_s_per_gbit', 'machine_cpu_s_per_gbit',
] as const;
export type DatapathMetric = typeof DATAPATH_METRICS[number];

export interface MetricInfo {
  readonly label: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** Decimal places when printed. */
  readonly digits: number;
}

export const METRIC_INFO: Readonly<Record<DatapathMetric, MetricInfo>> = {
  tcp_gbps: { label: 'TCP 1 stream', unit: 'Gbit/s', higherIsBetter: true, digits: 3 },
  tcp4_gbps: { label: 'TCP 4 streams', unit: 'Gbit/s', higherIsBetter: true, digits: 3 },
  tcp_rev_gbps: { label: 'TCP reverse', unit: 'Gbit/s', higherIsBetter: true, digits: 3 },
  udp_kpps: { label: 'UDP 64 B recv', unit: 'kpps', higherIsBetter: true, digits: 1 },
  rtt_us: { label: 'RTT p50', unit: 'µs', higherIsBetter: false, digits: 0 },
  rtt_p99_us: { label: 'RTT p99', unit: 'µs', higherIsBetter: false, digits: 0 },
  cpu_s_per_gbit: { label: 'daemon CPU', unit: 's/Gbit', higherIsBetter: false, digits: 3 },
  machine_cpu_s_per_gbit: { label: 'machine CPU', unit: 's/Gbit', higherIsBetter: false, digits: 3 },
};

export interface DatapathResult {
  readonly name: string;
  readonly metrics: Partial<Record<DatapathMetric, Spread | null>>;
  /** Why some or all metrics are missing: set up failed, a tool failed, the path carried nothing. */
  readonly errors: readonly string[];
}

/** The daemons whose control plane is measured, in report order; the first is the reference for ratios. */
export const CONTROL_DAEMONS = ['upstream', 'tsflanneld-kernel', 'tsflanneld-userspace'] as const;
export type ControlDaemonName = typeof CONTROL_DAEMONS[number];

export const CONTROL_LABELS: Readonly<Record<ControlDaemonName, string>> = {
  upstream: 'upstream v0.28.9',
  'tsflanneld-kernel': 'tsflanneld kernel vxlan',
  'tsflanneld-userspace': 'tsflanneld userspace vxlan',
};

export interface ControlResult {
  readonly name: ControlDaemonName;
  readonly peers: number;
  /** How many timed starts the start figures are the median of. */
  readonly starts: number;
  /** Start → /readyz 200 (subnet.env written and traffic rules in place), median of the starts. */
  readonly readyMs: number | null;
  /** Start → subnet.env complete on disk, median of the starts. */
  readonly subnetEnvMs: number | null;
  /** Every timed start, with its round and its place in the round (the rounds interleave all daemons). */
  readonly startRounds: readonly StartSample[];
  /** Resident set after `idleSeconds` of idling with no peers (VmRSS). */
  readonly idleRssMb: number | null;
  /** Its private part (RssAnon) and its file-backed, shared and clean part (RssFile); see memory.ts. */
  readonly idleRssAnonMb: number | null;
  readonly idleRssFileMb: number | null;
  readonly idleSeconds: number;
  /** CPU seconds (user + system, every thread and child) spent over `idleCpuWindowS` of idling. */
  readonly idleCpuS: number | null;
  readonly idleCpuWindowS: number;
  readonly threads: number | null;
  readonly convergeP50Ms: number | null;
  readonly convergeP99Ms: number | null;
  readonly convergeTotalMs: number | null;
  /** The bench writer's own time for those puts (first sent → last acknowledged): no total is shorter. */
  readonly convergeWriterMs: number | null;
  readonly programPerS: number | null;
  /** Resident set at `peers` peers, and its private and file-backed parts. */
  readonly rssMb: number | null;
  readonly rssAnonMb: number | null;
  readonly rssFileMb: number | null;
  readonly errors: readonly string[];
}

/** A control result with nothing measured (skipped, or failed before the first figure). */
export function emptyControl(name: ControlDaemonName, peers: number, errors: readonly string[]): ControlResult {
  return { name, peers, starts: 0, readyMs: null, subnetEnvMs: null, startRounds: [], idleRssMb: null,
    idleRssAnonMb: null, idleRssFileMb: null, idleSeconds: 0, idleCpuS: null, idleCpuWindowS: 0, threads: null,
    convergeP50Ms: null, convergeP99Ms: null, convergeTotalMs: null, convergeWriterMs: null, programPerS: null, rssMb: null, rssAnonMb: null, rssFileMb: null,
    errors };
}

/** `a ÷ b` of two positive figures, or null when either is missing or b is not above 0 (no meaningful ratio). */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

export type MachineInfo = Readonly<Record<string, string | number | boolean>>;

export interface BenchReport {
  readonly datapaths: readonly DatapathResult[];
  /** One per daemon measured, in CONTROL_DAEMONS order; empty with --no-control-plane. */
  readonly controls: readonly ControlResult[];
  /** Node.js with etcd3 loaded and nothing else, after the daemons' idle time (runtime-floor.ts); null if not run. */
  readonly runtimeFloor?: RuntimeFloor | null;
  readonly machine: MachineInfo;
}

export interface RuntimeFloor {
  readonly idleSeconds: number;
  readonly memory: ProcMemory;
}

/** Rounds for the JSON: enough digits to compare runs, none of the float noise. */
export function round(v: number | null | undefined): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return null;
  if (v === 0) return 0;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(v))));
  const f = 10 ** Math.min(digits, 6);
  return Math.round(v * f) / f;
}

export interface LatestJson {
  datapaths: Array<Record<string, string | number | null>>;
  /** Issue 6's object: tsflanneld's own figures (kernel vxlan), kept for readers of the first schema. */
  control: Record<string, string | number | null>;
  /** Every daemon's figures, each with `<figure>_vs_upstream` ratios where upstream was measured. */
  control_planes: Array<Record<string, string | number | null>>;
  /** Per daemon, every timed start by round and its ratio to upstream's start of the same round. */
  start_rounds: Record<string, Record<string, (number | null)[]>>;
  /** The runtime's floor (Node.js + etcd3, idle), with its RSS ÷ upstream's idle RSS; absent when not measured. */
  runtime_floor?: Record<string, number | null>;
  machine: MachineInfo;
}

/** The figures of a control row that get a ratio against upstream's, by JSON name. */
export function controlFigures(c: ControlResult): Record<string, number | null> {
  return {
    subnet_env_ms: c.subnetEnvMs, ready_ms: c.readyMs, idle_rss_mb: c.idleRssMb, idle_rss_anon_mb: c.idleRssAnonMb,
    idle_rss_file_mb: c.idleRssFileMb, idle_cpu_s: c.idleCpuS, threads: c.threads, converge_ms_p50: c.convergeP50Ms,
    converge_ms_p99: c.convergeP99Ms, converge_total_ms: c.convergeTotalMs, program_per_s: c.programPerS,
    rss_mb: c.rssMb, rss_anon_mb: c.rssAnonMb, rss_file_mb: c.rssFileMb,
  };
}

/** The start figures timed per round, by JSON name. */
const START_FIGURES: readonly (readonly [string, StartFigure])[] = [
  ['subnet_env_ms', 'subnetEnvMs'], ['ready_ms', 'readyMs'],
];

/**
 * Every timed start per daemon in round order (its place in the round beside it), and each round's ratio to
 * upstream's start of the same round: the ratios of one round share that round's machine load.
 */
export function startRoundsJson(controls: readonly ControlResult[]): Record<string, Record<string, (number | null)[]>> {
  const upstream = controls.find((c) => c.name === 'upstream');
  const out: Record<string, Record<string, (number | null)[]>> = {};
  for (const c of controls) {
    const rounds = [...c.startRounds].sort((a, b) => a.round - b.round);
    const row: Record<string, (number | null)[]> = { round: rounds.map((x) => x.round + 1),
      position: rounds.map((x) => x.position + 1) };
    for (const [k, f] of START_FIGURES) {
      row[k] = rounds.map((x) => round(x[f]));
      if (upstream !== undefined && upstream !== c) {
        row[`${k}_vs_upstream`] = roundRatios(c.startRounds, upstream.startRounds, f).map((x) => round(x));
      }
    }
    out[c.name] = row;
  }
  return out;
}

function controlJson(c: ControlResult, upstream: ControlResult | undefined): Record<string, string | number | null> {
  const row: Record<string, string | number | null> = { name: c.name, peers: c.peers, starts: c.starts,
    idle_seconds: c.idleSeconds, idle_cpu_window_s: c.idleCpuWindowS };
  const figures = controlFigures(c);
  for (const [k, v] of Object.entries(figures)) row[k] = round(v);
  row.converge_writer_ms = round(c.convergeWriterMs);
  if (upstream !== undefined && upstream !== c) {
    const ref = controlFigures(upstream);
    for (const [k, v] of Object.entries(figures)) row[`${k}_vs_upstream`] = round(ratio(v, ref[k]));
    for (const [k, f] of START_FIGURES) {
      const sp = roundRatioSpread(roundRatios(c.startRounds, upstream.startRounds, f));
      row[`${k}_round_ratio_median`] = round(sp?.median);
      row[`${k}_round_ratio_min`] = round(sp?.min);
      row[`${k}_round_ratio_max`] = round(sp?.max);
    }
  }
  if (c.errors.length > 0) row.error = c.errors.join('; ');
  return row;
}

export function toLatestJson(r: BenchReport): LatestJson {
  const datapaths = r.datapaths.map((d) => {
    const row: Record<string, string | number | null> = { name: d.name };
    for (const m of DATAPATH_METRICS) row[m] = round(d.metrics[m]?.median);
    for (const m of DATAPATH_METRICS) {
      row[`${m}_min`] = round(d.metrics[m]?.min);
      row[`${m}_max`] = round(d.metrics[m]?.max);
    }
    if (d.errors.length > 0) row.error = d.errors.join('; ');
    return row;
  });
  const upstream = r.controls.find((c) => c.name === 'upstream');
  const own = r.controls.find((c) => c.name === 'tsflanneld-kernel') ?? r.controls.find((c) => c.name !== 'upstream');
  const control = own === undefined ? { error: 'control plane not measured' } : controlJson(own, upstream);
  const floor = r.runtimeFloor == null ? {} : { runtime_floor: runtimeFloorJson(r.runtimeFloor, upstream) };
  return { datapaths, control, control_planes: r.controls.map((c) => controlJson(c, upstream)),
    start_rounds: startRoundsJson(r.controls), ...floor, machine: r.machine };
}

function runtimeFloorJson(f: RuntimeFloor, upstream: ControlResult | undefined): Record<string, number | null> {
  const m = f.memory;
  return { idle_s: f.idleSeconds, rss_mb: round(m.rssMb), rss_anon_mb: round(m.anonMb), rss_file_mb: round(m.fileMb),
    rss_mb_vs_upstream: round(ratio(m.rssMb, upstream?.idleRssMb)) };
}
