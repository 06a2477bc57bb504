// The benchmark's results as data, the metric catalogue, and the `latest.json` document built from them
// (schema from issue 6; `<metric>_min`/`<metric>_max` fields sit beside each median). Pure.
import type { Spread } from './stats.js';

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

export interface ControlResult {
  readonly peers: number;
  /** Start → /readyz 200 (subnet.env written and traffic rules in place). */
  readonly readyMs: number | null;
  /** Start → subnet.env complete on disk. */
  readonly subnetEnvMs: number | null;
  readonly convergeP50Ms: number | null;
  readonly convergeP99Ms: number | null;
  readonly convergeTotalMs: number | null;
  readonly programPerS: number | null;
  readonly rssMb: number | null;
  readonly errors: readonly string[];
}

export type MachineInfo = Readonly<Record<string, string | number | boolean>>;

export interface BenchReport {
  readonly datapaths: readonly DatapathResult[];
  readonly control: ControlResult;
  readonly machine: MachineInfo;
}

/** Rounds for the JSON: enough digits to compare runs, none of the float noise. */
function round(v: number | null | undefined): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return null;
  if (v === 0) return 0;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(v))));
  const f = 10 ** Math.min(digits, 6);
  return Math.round(v * f) / f;
}

export interface LatestJson {
  datapaths: Array<Record<string, string | number | null>>;
  control: Record<string, string | number | null>;
  machine: MachineInfo;
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
  const c = r.control;
  const control: Record<string, string | number | null> = {
    ready_ms: round(c.readyMs), converge_ms_p50: round(c.convergeP50Ms), converge_ms_p99: round(c.convergeP99Ms),
    peers: c.peers, program_per_s: round(c.programPerS), rss_mb: round(c.rssMb), converge_total_ms: round(c.convergeTotalMs),
    subnet_env_ms: round(c.subnetEnvMs),
  };
  if (c.errors.length > 0) control.error = c.errors.join('; ');
  return { datapaths, control, machine: r.machine };
}
