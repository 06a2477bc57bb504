// `tsflanneld status [--json]`: this node's lease and every peer's (subnet, PublicIP, backend, VtepMAC, expiry)
// as etcd has them, the local subnet.env, and — when the daemon runs — its datapath counters, read from the status
// file the daemon keeps next to subnet.env (./state-file.ts; no health server needed). Typed without the daemon's
// sysconfig variables, it reads the etcd prefix and endpoints the running daemon names in that file; given others,
// it says that they differ.
import fs from 'node:fs';
import { netsEqual, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, nets6Equal, type Ipv6Net } from '../net/ipv6.js';
import { resolveOptions, type Options } from '../options.js';
import type { Lease } from '../subnet/lease.js';
import { isIpv6OnlySubnet } from '../subnet/codec.js';
import { parseSubnetEnv, previousIPv6SubnetFrom, previousSubnetFrom } from '../subnet/subnet-env.js';
import { readClusterView, type ClusterView } from './cluster-view.js';
import { ipv4NetworkText, leaseIpv4Subnet } from './families.js';
import { readLiveState, stateFilePath, type DaemonState } from './state-file.js';

export interface LeaseRow {
  /** The IPv4 subnet; null for an IPv6-only lease (its key's `0.0.0.0-0` half is no subnet). */
  readonly subnet: string | null;
  /** PublicIP; null for an IPv6-only lease (upstream writes 0.0.0.0 there). */
  readonly publicIP: string | null;
  readonly backend: string;
  readonly vtepMAC: string | null;
  /** ISO time, or null for a reservation (no etcd lease). */
  readonly expires: string | null;
  readonly own: boolean;
  /** The dual-stack half, when the lease has one. */
  readonly ipv6Subnet?: string;
  readonly publicIPv6?: string;
}

export interface StatusReport {
  /** Network; null when unknown (configError says why) or when the network is IPv6-only. */
  readonly network: string | null;
  /** IPv6Network when the config has EnableIPv6. */
  readonly ipv6Network?: string;
  readonly backend: string | null;
  readonly configKey: string;
  readonly configError: string | null;
  /** The etcd API in use (v2 for a flannel 0.7 cluster), and a warning when the two stores disagree. */
  readonly etcdApi?: string;
  readonly apiWarning?: string | null;
  readonly subnetFile: string;
  readonly subnetEnv: Readonly<Record<string, string>> | null;
  readonly own: LeaseRow | null;
  readonly peers: readonly LeaseRow[];
  readonly daemon: { readonly running: boolean; readonly pid: number | null; readonly updated: string | null;
    readonly counters: Readonly<Record<string, number>>; readonly peers?: number | null };
  /** Where this report read etcd from, when that is not what the flags say, or when it differs from the daemon's. */
  readonly etcdNote?: string | null;
}

export interface EtcdChoice {
  readonly etcdEndpoints: string[];
  readonly etcdPrefix: string;
  readonly note: string | null;
}

/**
 * Pure: which etcd to read. A value left at its default (nothing in flags or environment) is taken from the running
 * daemon's status file; a value set to something else than the daemon's is kept, with a warning naming both.
 */
export function chooseEtcd(given: Pick<Options, 'etcdEndpoints' | 'etcdPrefix'>,
  defaults: Pick<Options, 'etcdEndpoints' | 'etcdPrefix'>, state: DaemonState | null): EtcdChoice {
  const same = (a: readonly string[], b: readonly string[]): boolean => a.join(',') === b.join(',');
  if (state === null || state.etcdPrefix === undefined || state.etcdEndpoints === undefined) {
    return { etcdEndpoints: given.etcdEndpoints, etcdPrefix: given.etcdPrefix, note: null };
  }
  const prefixDefault = given.etcdPrefix === defaults.etcdPrefix;
  const endpointsDefault = same(given.etcdEndpoints, defaults.etcdEndpoints);
  const etcdPrefix = prefixDefault ? state.etcdPrefix : given.etcdPrefix;
  const etcdEndpoints = endpointsDefault ? [...state.etcdEndpoints] : given.etcdEndpoints;
  const taken = [prefixDefault && state.etcdPrefix !== given.etcdPrefix ? `prefix ${state.etcdPrefix}` : '',
    endpointsDefault && !same(state.etcdEndpoints, given.etcdEndpoints) ? `endpoints ${state.etcdEndpoints.join(',')}` : '']
    .filter((x) => x !== '');
  const differs = etcdPrefix !== state.etcdPrefix || !same(etcdEndpoints, state.etcdEndpoints);
  const note = differs
    ? `WARNING: the running daemon (pid ${state.pid}) uses prefix ${state.etcdPrefix} at ${state.etcdEndpoints.join(',')}; `
      + `this report reads prefix ${etcdPrefix} at ${etcdEndpoints.join(',')} (drop --etcd-prefix/--etcd-endpoints to read the daemon's)`
    : taken.length > 0 ? `the running daemon's ${taken.join(' and ')} (from its status file)` : null;
  return { etcdEndpoints, etcdPrefix, note };
}

function vtepMacOf(lease: Lease): string | null {
  const data = lease.attrs.backendData as { VtepMAC?: unknown } | undefined;
  return data !== null && typeof data === 'object' && typeof data.VtepMAC === 'string' ? data.VtepMAC : null;
}

export function leaseRow(lease: Lease, own: boolean): LeaseRow {
  return {
    subnet: leaseIpv4Subnet(lease), publicIP: isIpv6OnlySubnet(lease.subnet) ? null : lease.attrs.publicIP, backend: lease.attrs.backendType ?? 'udp',
    vtepMAC: vtepMacOf(lease), expires: lease.expiration === null ? null : lease.expiration.toISOString(), own,
    ...(lease.ipv6Subnet ? { ipv6Subnet: formatCidr6(lease.ipv6Subnet) } : {}),
    ...(lease.attrs.publicIPv6 ? { publicIPv6: lease.attrs.publicIPv6 } : {}),
  };
}

/** Pure: the report from what etcd, subnet.env and the status file say. */
export function buildStatus(view: ClusterView, subnetFile: string, subnetEnvText: string | null,
  state: DaemonState | null, etcdNote: string | null = null): StatusReport {
  const ownSubnet: Ipv4Net | null = subnetEnvText === null ? null : previousSubnetFrom(subnetEnvText);
  // An IPv6-only node's subnet.env has no FLANNEL_SUBNET: its lease is the one with its FLANNEL_IPV6_SUBNET.
  const ownSubnet6: Ipv6Net | null = subnetEnvText === null || ownSubnet !== null ? null : previousIPv6SubnetFrom(subnetEnvText);
  const v6Of = (l: Lease): bigint => l.ipv6Subnet?.ip ?? 0n;
  const sorted = [...view.leases].sort((a, b) => a.subnet.ip - b.subnet.ip || (v6Of(a) === v6Of(b) ? 0 : v6Of(a) < v6Of(b) ? -1 : 1));
  const isOwn = (l: Lease): boolean => (ownSubnet !== null && netsEqual(l.subnet, ownSubnet))
    || (ownSubnet6 !== null && isIpv6OnlySubnet(l.subnet) && !!l.ipv6Subnet && nets6Equal(l.ipv6Subnet, ownSubnet6));
  const ownLease = sorted.find(isOwn);
  return {
    network: view.config ? ipv4NetworkText(view.config) : null,
    ...(view.config?.ipv6 ? { ipv6Network: formatCidr6(view.config.ipv6.network) } : {}),
    backend: view.config ? view.config.backend.type : null,
    configKey: view.configKey,
    configError: view.configError,
    ...(view.api ? { etcdApi: view.api, apiWarning: view.apiWarning ?? null } : {}),
    subnetFile,
    subnetEnv: subnetEnvText === null ? null : parseSubnetEnv(subnetEnvText),
    own: ownLease ? leaseRow(ownLease, true) : null,
    peers: sorted.filter((l) => !isOwn(l)).map((l) => leaseRow(l, false)),
    daemon: { running: state !== null, pid: state?.pid ?? null, updated: state?.updated ?? null, counters: state?.counters ?? {},
      peers: state?.peers ?? null },
    etcdNote,
  };
}

function relative(iso: string | null, now: number): string {
  if (iso === null) return 'never (reservation)';
  const s = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(s);
  const text = abs >= 3600 ? `${Math.floor(abs / 3600)}h${Math.floor((abs % 3600) / 60)}m` : abs >= 60 ? `${Math.floor(abs / 60)}m${abs % 60}s` : `${abs}s`;
  return s >= 0 ? `${iso} (in ${text})` : `${iso} (${text} ago)`;
}

function table(rows: readonly LeaseRow[], now: number): string[] {
  const header = ['SUBNET', 'PUBLIC IP', 'BACKEND', 'VTEP MAC', 'EXPIRES'];
  const both = (a: string | null, b: string | undefined): string => [a, b].filter((x) => !!x).join(' ') || '-';
  const cells = rows.map((r) => [both(r.subnet, r.ipv6Subnet), both(r.publicIP, r.publicIPv6), r.backend, r.vtepMAC ?? '-', relative(r.expires, now)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: readonly string[]): string => `  ${c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i] as number))).join('  ')}`;
  return [line(header), ...cells.map(line)];
}

/** Pure: the human-readable text of a report. */
export function formatStatus(r: StatusReport, now = Date.now()): string {
  const out: string[] = [];
  const nets = [r.network, r.ipv6Network].filter((x) => !!x).join(' and ');
  out.push(r.configError === null && nets !== '' ? `Network:  ${nets} (backend ${r.backend}) from ${r.configKey}`
    : `Network:  unknown (${r.configError ?? 'no config'})`);
  if (r.etcdNote) out.push(`etcd:     ${r.etcdNote}`);
  if (r.etcdApi) out.push(`etcd API: ${r.etcdApi}${r.apiWarning ? ` (WARNING: ${r.apiWarning})` : ''}`);
  if (r.subnetEnv === null) out.push(`Local:    ${r.subnetFile} is missing (the daemon has not written it yet)`);
  else {
    const e = r.subnetEnv;
    // IPv6-only: no FLANNEL_SUBNET at all, as upstream writes it.
    const subnets = e.FLANNEL_SUBNET === undefined && e.FLANNEL_IPV6_SUBNET !== undefined
      ? `FLANNEL_IPV6_SUBNET=${e.FLANNEL_IPV6_SUBNET}`
      : `FLANNEL_SUBNET=${e.FLANNEL_SUBNET ?? '?'}${e.FLANNEL_IPV6_SUBNET ? ` FLANNEL_IPV6_SUBNET=${e.FLANNEL_IPV6_SUBNET}` : ''}`;
    out.push(`Local:    ${r.subnetFile}: ${subnets} FLANNEL_MTU=${e.FLANNEL_MTU ?? '?'} FLANNEL_IPMASQ=${e.FLANNEL_IPMASQ ?? '?'}`);
  }
  const daemonPeers = r.daemon.peers === undefined || r.daemon.peers === null ? '' : `, ${r.daemon.peers} peers programmed`;
  out.push(r.daemon.running ? `Daemon:   running (pid ${r.daemon.pid})${daemonPeers}, state of ${r.daemon.updated}`
    : 'Daemon:   not running (no live status file)');
  out.push('');
  if (r.own) out.push('Own lease:', ...table([r.own], now));
  else {
    const local = r.subnetEnv?.FLANNEL_SUBNET ?? r.subnetEnv?.FLANNEL_IPV6_SUBNET;
    out.push(`Own lease: none in etcd${local ? ` for ${local}` : ''}`);
  }
  out.push('');
  out.push(`Peers (${r.peers.length}):`);
  if (r.peers.length > 0) out.push(...table(r.peers, now));
  const counters = Object.entries(r.daemon.counters);
  if (counters.length > 0) {
    out.push('', 'Daemon counters (datapath and rules):');
    const w = Math.max(...counters.map(([k]) => k.length));
    for (const [k, v] of counters.sort(([a], [b]) => a.localeCompare(b))) out.push(`  ${k.padEnd(w)}  ${v}`);
  }
  return `${out.join('\n')}\n`;
}

/** The command: 0 on success, 1 when etcd cannot be read (one line on stderr). */
export async function runStatus(options: Options, json: boolean): Promise<number> {
  const state = readLiveState(stateFilePath(options.subnetFile));
  const etcd = chooseEtcd(options, resolveOptions({}, {}), state);
  let view: ClusterView;
  try {
    view = await readClusterView({ ...options, etcdEndpoints: etcd.etcdEndpoints, etcdPrefix: etcd.etcdPrefix });
  } catch (e) {
    process.stderr.write(`tsflanneld status: ${(e as Error).message}\n`);
    return 1;
  }
  let envText: string | null = null;
  try {
    envText = fs.readFileSync(options.subnetFile, 'utf8');
  } catch { /* not written yet */ }
  const report = buildStatus(view, options.subnetFile, envText, state, etcd.note);
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  return 0;
}
