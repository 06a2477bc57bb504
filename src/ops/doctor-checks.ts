// The checks of `tsflanneld doctor`, as pure functions of gathered facts (./doctor.ts gathers them). Each answers
// one of flannel's recurring problems (flannel-compat §11) and, when it fails, names the command that fixes it.
import type { NetworkConfig } from '../config/network-config.js';
import { formatCidr6 } from '../net/ipv6.js';
import type { Lease } from '../subnet/lease.js';
import { subnetKey } from '../subnet/codec.js';
import { createConfigHint, deleteKeysHint } from '../subnet/config-text.js';
import { vxlanV6DeviceName } from '../backend/vxlan/kernel-v6.js';
import type { EtcdApi } from '../subnet/registry.js';
import { checkTunnelGsoRules } from './doctor-tunnel-rules.js';
import { parseSave } from '../trafficmngr/iptables-rules.js';
import { checkLeftovers, type KernelFacts } from './doctor-leftovers.js';
import { ipv4NetworkText, leaseHostAddress } from './families.js';
import { parseEnvFile } from './mk-docker-opts.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  readonly id: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** The command (or step) that fixes a warn/fail. */
  readonly fix?: string;
}

export interface DoctorFacts {
  /** Content of /proc/sys/net/ipv4/ip_forward, or null when unreadable. */
  readonly ipForward: string | null;
  /** Content of /proc/sys/net/ipv6/conf/all/forwarding (read when the config has EnableIPv6), or null. */
  readonly ipv6Forward?: string | null;
  /** `iptables-save -t filter`, or null when iptables is missing. */
  readonly filterSave: string | null;
  /** `ip6tables-save -t filter`, or null (absent in facts that do not need it). */
  readonly filterSave6?: string | null;
  readonly brNetfilter: boolean;
  readonly vxlanModule: 'loaded' | 'available' | 'absent';
  readonly devTun: boolean;
  readonly iface: { readonly name: string; readonly index?: number; readonly ifaceAddr: string; readonly extAddr: string;
    readonly mtu: number } | { readonly error: string };
  readonly subnetFile: string;
  readonly subnetEnv: Readonly<Record<string, string>> | null;
  /** Free space of the file system that holds the subnet file (statfs), when it could be read. */
  readonly subnetDirSpace?: { readonly dir: string; readonly freeBytes: number; readonly freeInodes: number } | null;
  /** MTU of docker0 when that bridge exists. */
  readonly dockerBridgeMtu: number | null;
  /** Docker options files that mk-docker-opts wrote (/run/flannel/docker, /run/docker_opts.env), when present. */
  readonly dockerOptsFiles?: ReadonlyArray<{ readonly path: string; readonly text: string }>;
  /** The host's links and routes, for the leftovers of other backends; null when they could not be listed. */
  readonly kernel?: KernelFacts | null;
  /** Local UDP ports with a bound socket (from /proc/net/udp{,6}). */
  readonly boundUdpPorts: ReadonlySet<number>;
  /** Kernel VXLAN devices and their destination port. */
  readonly vxlanDevices: ReadonlyArray<{ readonly name: string; readonly port: number }>;
  readonly daemonRunning: boolean;
  readonly vxlanDatapath: 'userspace' | 'kernel';
  /** --backend, overriding the config's type. */
  readonly backendOverride: string | null;
  readonly etcd: { readonly endpoints: string; readonly configKey: string; readonly subnetsPrefix: string;
    readonly error: string | null; readonly config: NetworkConfig | null; readonly configError: string | null;
    readonly leases: readonly Lease[];
    /** The etcd API in use, and the warning when the v2 and v3 stores hold differing configs. */
    readonly api?: EtcdApi; readonly apiWarning?: string | null };
}

const DEFAULT_VXLAN_PORT = 8472;
const DEFAULT_UDP_BACKEND_PORT = 8285;

function backendType(f: DoctorFacts): string | null {
  return f.backendOverride ?? f.etcd.config?.backend.type ?? null;
}

function backendKey(f: DoctorFacts, key: string): unknown {
  const raw = f.etcd.config?.backend.raw ?? {};
  const k = Object.keys(raw).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : raw[k];
}

/** True for an IPv6-only network (EnableIPv4 false): nothing of IPv4 is flannel's then. */
function ipv6Only(f: DoctorFacts): boolean {
  return f.etcd.config?.enableIPv4 === false;
}

export function checkIpForward(f: DoctorFacts): CheckResult {
  if (ipv6Only(f)) return { id: 'ip_forward', status: 'skip', detail: 'IPv6-only network (EnableIPv4 false)' };
  const v = f.ipForward?.trim();
  if (v === '1') return { id: 'ip_forward', status: 'ok', detail: 'net.ipv4.ip_forward = 1' };
  return { id: 'ip_forward', status: 'fail',
    detail: `net.ipv4.ip_forward = ${v ?? 'unreadable'}: the host does not forward container traffic`,
    fix: "sysctl -w net.ipv4.ip_forward=1 && echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-flannel.conf" };
}

/** Dual stack: the host must forward IPv6 too, or container IPv6 traffic dies at the host. */
export function checkIpv6Forward(f: DoctorFacts): CheckResult {
  if (!f.etcd.config?.ipv6) return { id: 'ipv6_forwarding', status: 'skip', detail: 'the network config has no EnableIPv6' };
  const v = f.ipv6Forward?.trim() ?? null;
  if (v === '1') return { id: 'ipv6_forwarding', status: 'ok', detail: 'net.ipv6.conf.all.forwarding = 1' };
  return { id: 'ipv6_forwarding', status: 'fail',
    detail: `net.ipv6.conf.all.forwarding = ${v ?? 'unreadable'}: the host does not forward container IPv6 traffic`,
    fix: "sysctl -w net.ipv6.conf.all.forwarding=1 && echo 'net.ipv6.conf.all.forwarding = 1' >> /etc/sysctl.d/90-flannel.conf" };
}

/** VXLAN over IPv6 costs 70 bytes (40-byte IPv6 header), not 50: upstream's MTU − 50 makes full-size packets fragment. */
export const VXLAN6_OVERHEAD = 70;

/**
 * Dual-stack vxlan sends IPv6 pods' traffic over the IPv6 underlay: a FLANNEL_MTU above the interface MTU − 70 makes
 * the outer packets of full-size inner ones too big, so they are fragmented (slow) or, past a router, dropped.
 */
export function checkVxlan6Mtu(f: DoctorFacts): CheckResult {
  const id = 'vxlan_ipv6_mtu';
  if (!f.etcd.config?.ipv6 || backendType(f) !== 'vxlan') return { id, status: 'skip', detail: 'no vxlan over IPv6' };
  if ('error' in f.iface) return { id, status: 'skip', detail: 'no external interface' };
  const limit = f.iface.mtu - VXLAN6_OVERHEAD;
  // What the pods are told (FLANNEL_MTU) and what flannel-v6.<VNI> itself sends: either too big fragments.
  const vni = backendKey(f, 'VNI');
  const device = vxlanV6DeviceName(typeof vni === 'number' && vni > 0 ? vni : 1);
  const deviceMtu = f.kernel?.links.find((l) => l.name === device)?.mtu;
  const sizes = [...(f.subnetEnv?.FLANNEL_MTU !== undefined ? [[`FLANNEL_MTU=${f.subnetEnv.FLANNEL_MTU}`, Number(f.subnetEnv.FLANNEL_MTU)]] : []),
    ...(deviceMtu !== undefined ? [[`${device} MTU ${deviceMtu}`, deviceMtu]] : [])] as Array<[string, number]>;
  const known = sizes.filter(([, n]) => Number.isFinite(n));
  if (known.length === 0) return { id, status: 'skip', detail: `${f.subnetFile} has no FLANNEL_MTU yet and there is no ${device}` };
  const over = known.filter(([, n]) => n > limit);
  if (over.length === 0) return { id, status: 'ok', detail: `${known.map(([t]) => t).join(' and ')} ${known.length > 1 ? 'fit' : 'fits'} VXLAN over IPv6 (at most ${limit})` };
  return { id, status: 'warn',
    detail: `${over.map(([t]) => t).join(' and ')} ${over.length > 1 ? 'are' : 'is'} above ${limit} (interface MTU ${f.iface.mtu} − ${VXLAN6_OVERHEAD} for VXLAN over IPv6): `
      + 'full-size IPv6 pod packets are fragmented on the underlay',
    fix: `set "MTU":${f.iface.mtu - 20} in the network config's Backend (FLANNEL_MTU becomes ${limit}) and restart the nodes` };
}

export function checkForwardPolicy(f: DoctorFacts): CheckResult {
  if (ipv6Only(f)) return { id: 'forward_policy', status: 'skip', detail: 'IPv6-only network: the IPv4 FORWARD chain carries no pod traffic' };
  if (f.filterSave === null) return { id: 'forward_policy', status: 'skip', detail: 'iptables-save not available' };
  const policy = /^:FORWARD (\S+)/m.exec(f.filterSave)?.[1] ?? 'ACCEPT';
  const rules = parseSave(f.filterSave);
  const jump = rules.some((r) => r.chain === 'FORWARD' && r.spec.at(-1) === 'FLANNEL-FWD');
  const network = (f.etcd.config ? ipv4NetworkText(f.etcd.config) : null) ?? '<Network>';
  if (policy !== 'DROP') return { id: 'forward_policy', status: 'ok', detail: `FORWARD policy ${policy}` };
  if (jump) return { id: 'forward_policy', status: 'ok', detail: 'FORWARD policy DROP, flannel\'s FLANNEL-FWD rules are in place' };
  return { id: 'forward_policy', status: 'fail',
    detail: 'FORWARD policy DROP (Docker ≥1.13 sets it) and no FLANNEL-FWD rules: traffic between hosts is dropped',
    fix: `run tsflanneld with --iptables-forward-rules=true (the default), or: iptables -A FORWARD -s ${network} -j ACCEPT && iptables -A FORWARD -d ${network} -j ACCEPT` };
}

export function checkBrNetfilter(f: DoctorFacts): CheckResult {
  if (f.etcd.config?.enableNFTables) return { id: 'br_netfilter', status: 'skip', detail: 'nftables mode (EnableNFTables)' };
  if (f.brNetfilter) return { id: 'br_netfilter', status: 'ok', detail: '/proc/sys/net/bridge/bridge-nf-call-iptables exists' };
  return { id: 'br_netfilter', status: 'warn',
    detail: 'br_netfilter is not loaded: bridged container traffic bypasses iptables (upstream flanneld v0.26+ refuses to start)',
    fix: "modprobe br_netfilter && echo br_netfilter > /etc/modules-load.d/flannel.conf" };
}

export function checkVxlanSupport(f: DoctorFacts): CheckResult[] {
  const type = backendType(f);
  if (type === 'udp') {
    // The udp backend's flannel0 is a TUN whatever the datapath flag says.
    return [{ id: 'vxlan_module', status: 'skip', detail: 'backend udp' }, f.devTun
      ? { id: 'dev_net_tun', status: 'ok', detail: '/dev/net/tun exists' }
      : { id: 'dev_net_tun', status: 'fail', detail: '/dev/net/tun is missing: the udp backend cannot open flannel0',
        fix: 'modprobe tun (in a container: mount /dev/net/tun, e.g. docker run --device /dev/net/tun)' }];
  }
  if (type !== null && type !== 'vxlan') {
    return [{ id: 'vxlan_module', status: 'skip', detail: `backend ${type}` }, { id: 'dev_net_tun', status: 'skip', detail: `backend ${type}` }];
  }
  const kernel = f.vxlanDatapath === 'kernel';
  const mod: CheckResult = f.vxlanModule !== 'absent'
    ? { id: 'vxlan_module', status: 'ok', detail: `kernel vxlan module ${f.vxlanModule}` }
    : { id: 'vxlan_module', status: kernel ? 'fail' : 'warn',
      detail: `no kernel vxlan module${kernel ? ': the kernel datapath cannot create flannel.<VNI>' : ' (only the kernel datapath needs it)'}`,
      fix: 'modprobe vxlan (install the kernel\'s extra modules package if it is missing)' };
  const tun: CheckResult = f.devTun
    ? { id: 'dev_net_tun', status: 'ok', detail: '/dev/net/tun exists' }
    : { id: 'dev_net_tun', status: kernel ? 'warn' : 'fail',
      detail: `/dev/net/tun is missing${kernel ? ' (only the userspace datapath needs it)' : ': the userspace datapath cannot open its TUN device'}`,
      fix: 'modprobe tun (in a container: mount /dev/net/tun, e.g. docker run --device /dev/net/tun)' };
  return [mod, tun];
}

export function checkInterface(f: DoctorFacts): CheckResult {
  if ('error' in f.iface) {
    return { id: 'interface', status: 'fail', detail: `no external interface: ${f.iface.error}`,
      fix: 'pass --iface=<name or IP> (or --iface-regex / --iface-can-reach), or add a default route' };
  }
  const i = f.iface;
  const pub = i.extAddr !== i.ifaceAddr ? `, public IP ${i.extAddr}` : '';
  return { id: 'interface', status: 'ok', detail: `${i.name} (${i.ifaceAddr}${pub}), MTU ${i.mtu}` };
}

/** FLANNEL_MTU a backend derives from the external MTU (vxlan −50, udp −28, routes-only backends unchanged). */
export function expectedFlannelMtu(f: DoctorFacts): number | null {
  if ('error' in f.iface) return null;
  const type = backendType(f) ?? 'vxlan';
  if (type === 'vxlan') {
    const mtu = backendKey(f, 'MTU');
    return (typeof mtu === 'number' && mtu > 0 ? mtu : f.iface.mtu) - 50;
  }
  if (type === 'udp') return f.iface.mtu - 28;
  return f.iface.mtu;
}

export function checkMtu(f: DoctorFacts): CheckResult[] {
  const out: CheckResult[] = [];
  const expected = expectedFlannelMtu(f);
  const written = f.subnetEnv?.FLANNEL_MTU;
  const flannelMtu = written !== undefined && /^\d+$/.test(written) ? Number(written) : null;
  if (expected === null) out.push({ id: 'flannel_mtu', status: 'skip', detail: 'no external interface' });
  else if (flannelMtu === null) {
    out.push({ id: 'flannel_mtu', status: 'skip', detail: `${f.subnetFile} has no FLANNEL_MTU yet (expected ${expected})` });
  } else if (flannelMtu > expected) {
    out.push({ id: 'flannel_mtu', status: 'fail',
      detail: `FLANNEL_MTU=${flannelMtu} in ${f.subnetFile} but the external interface allows at most ${expected}: large packets are dropped`,
      fix: `restart tsflanneld so it rewrites ${f.subnetFile} (expect FLANNEL_MTU=${expected}), then restart Docker/pods` });
  } else if (flannelMtu < expected) {
    out.push({ id: 'flannel_mtu', status: 'warn', detail: `FLANNEL_MTU=${flannelMtu} is below the ${expected} the interface allows`,
      fix: `restart tsflanneld so it rewrites ${f.subnetFile} (or check Backend.MTU in the network config)` });
  } else out.push({ id: 'flannel_mtu', status: 'ok', detail: `FLANNEL_MTU=${flannelMtu} matches the external interface` });

  if (f.dockerBridgeMtu === null) out.push({ id: 'docker_bridge_mtu', status: 'skip', detail: 'no docker0 bridge' });
  else if (flannelMtu !== null && f.dockerBridgeMtu > flannelMtu) {
    out.push({ id: 'docker_bridge_mtu', status: 'fail',
      detail: `docker0 MTU ${f.dockerBridgeMtu} is above FLANNEL_MTU=${flannelMtu}: containers send packets the overlay cannot carry`,
      fix: 'tsflanneld mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker && systemctl restart docker (dockerd needs $DOCKER_NETWORK_OPTIONS, see systemd/docker-flannel.conf)' });
  } else out.push({ id: 'docker_bridge_mtu', status: 'ok', detail: `docker0 MTU ${f.dockerBridgeMtu}` });
  return out;
}

/**
 * A Docker options file older than subnet.env: mk-docker-opts runs once after the daemon starts (ExecStartPost), so
 * after a live backend switch (FLANNEL_MTU 1450 ↔ 1500) or a new subnet the file still holds the old values, and the
 * next Docker restart would use them. Re-running mk-docker-opts (then restarting Docker) is the operator's step.
 */
export function checkDockerOpts(f: DoctorFacts): CheckResult {
  const id = 'docker_opts';
  const files = f.dockerOptsFiles ?? [];
  if (files.length === 0) return { id, status: 'skip', detail: 'no Docker options file written by mk-docker-opts' };
  const env = f.subnetEnv;
  if (env?.FLANNEL_SUBNET === undefined) return { id, status: 'skip', detail: `${f.subnetFile} has no FLANNEL_SUBNET yet` };
  const stale: string[] = [];
  const fixes: string[] = [];
  for (const file of files) {
    const vars = parseEnvFile(file.text);
    const all = Object.values(vars).join(' ');
    const diffs: string[] = [];
    const mtu = /--mtu=(\S+)/.exec(all)?.[1];
    if (mtu !== undefined && env.FLANNEL_MTU !== undefined && mtu !== env.FLANNEL_MTU) diffs.push(`--mtu=${mtu} but FLANNEL_MTU=${env.FLANNEL_MTU}`);
    const bip = /--bip=(\S+)/.exec(all)?.[1];
    if (bip !== undefined && bip !== env.FLANNEL_SUBNET) diffs.push(`--bip=${bip} but FLANNEL_SUBNET=${env.FLANNEL_SUBNET}`);
    if (diffs.length === 0) continue;
    stale.push(`${file.path} has ${diffs.join(', ')}`);
    const individual = Object.keys(vars).some((k) => k.startsWith('DOCKER_OPT_'));
    const key = Object.keys(vars).find((k) => !k.startsWith('DOCKER_OPT_'));
    const mode = key === undefined ? ' -i' : `${individual ? '' : ' -c'}${key !== 'DOCKER_OPTS' ? ` -k ${key}` : ''}`;
    fixes.push(`tsflanneld mk-docker-opts${mode} -d ${file.path}`);
  }
  if (stale.length === 0) return { id, status: 'ok', detail: `${files.map((x) => x.path).join(', ')} match ${f.subnetFile}` };
  return { id, status: 'warn',
    detail: `${stale.join('; ')} (written before ${f.subnetFile} last changed, e.g. by a live backend switch): Docker's next start would use the old values`,
    fix: `${fixes.join(' && ')} && systemctl restart docker` };
}

export function checkUdpPort(f: DoctorFacts): CheckResult {
  const type = backendType(f);
  if (type === 'udp') return checkUdpBackendPort(f);
  if (type !== null && type !== 'vxlan') return { id: 'udp_port', status: 'skip', detail: `backend ${type}` };
  const portKey = backendKey(f, 'Port');
  const port = typeof portKey === 'number' && portKey > 0 ? portKey : DEFAULT_VXLAN_PORT;
  const vniKey = backendKey(f, 'VNI');
  const own = `flannel.${typeof vniKey === 'number' && vniKey > 0 ? vniKey : 1}`;
  const others = f.vxlanDevices.filter((d) => d.port === port && d.name !== own);
  if (others.length > 0) {
    return { id: 'udp_port', status: 'warn',
      detail: `other VXLAN devices use UDP port ${port}: ${others.map((d) => d.name).join(', ')} (they must not use flannel's VNI)`,
      fix: `ip -d link show ${others[0]?.name ?? ''}; delete it (ip link del <name>) or move it to another dstport` };
  }
  const explained = f.daemonRunning || f.vxlanDevices.some((d) => d.name === own && d.port === port);
  if (f.boundUdpPorts.has(port) && !explained) {
    return { id: 'udp_port', status: 'fail', detail: `UDP port ${port} is already bound by another program`,
      fix: `ss -ulpn 'sport = :${port}' (stop that program, or set Backend.Port in the network config on every node)` };
  }
  return { id: 'udp_port', status: 'ok', detail: `UDP port ${port} is free for flannel${explained ? ' (or in use by flannel itself)' : ''}` };
}

/** The udp backend listens on Backend.Port (8285 by default) on every node; another program there takes its traffic. */
function checkUdpBackendPort(f: DoctorFacts): CheckResult {
  const portKey = backendKey(f, 'Port');
  const port = typeof portKey === 'number' && portKey > 0 ? portKey : DEFAULT_UDP_BACKEND_PORT;
  if (f.boundUdpPorts.has(port) && !f.daemonRunning) {
    return { id: 'udp_port', status: 'fail', detail: `UDP port ${port} (udp backend) is already bound by another program`,
      fix: `ss -ulpn 'sport = :${port}' (stop that program, e.g. an old flanneld, or set Backend.Port on every node)` };
  }
  return { id: 'udp_port', status: 'ok',
    detail: `UDP port ${port} (udp backend) is free for flannel${f.daemonRunning ? ' (or in use by flannel itself)' : ''}` };
}

export function checkEtcd(f: DoctorFacts): CheckResult[] {
  if (f.etcd.error !== null) {
    return [{ id: 'etcd', status: 'fail', detail: f.etcd.error,
      fix: `check --etcd-endpoints (${f.etcd.endpoints}) and TLS flags; try: etcdctl --endpoints=${f.etcd.endpoints} endpoint health` },
    { id: 'network_config', status: 'skip', detail: 'etcd unreachable' },
    { id: 'duplicate_public_ip', status: 'skip', detail: 'etcd unreachable' }];
  }
  const out: CheckResult[] = [{ id: 'etcd', status: 'ok', detail: `reachable at ${f.etcd.endpoints}` }];
  if (f.etcd.config === null) {
    out.push({ id: 'network_config', status: 'fail', detail: f.etcd.configError ?? 'no network config',
      fix: createConfigHint(f.etcd.api ?? 'v3', f.etcd.configKey, f.etcd.endpoints) });
  } else {
    const c = f.etcd.config;
    const v4 = ipv4NetworkText(c);
    const families = [v4 === null ? null : `Network ${v4}, SubnetLen ${c.subnetLen}`,
      c.ipv6 ? `IPv6Network ${formatCidr6(c.ipv6.network)}, IPv6SubnetLen ${c.ipv6.subnetLen}` : null].filter((x) => x !== null);
    out.push({ id: 'network_config', status: 'ok', detail: `${families.join(', ')}, backend ${c.backend.type}` });
  }
  if (f.etcd.apiWarning) {
    out.push({ id: 'etcd_api', status: 'warn', detail: `using etcd ${f.etcd.api ?? 'v3'}; ${f.etcd.apiWarning}`,
      fix: `compare: ETCDCTL_API=2 etcdctl get ${f.etcd.configKey}; ETCDCTL_API=3 etcdctl get ${f.etcd.configKey}` });
  } else if (f.etcd.api) {
    out.push({ id: 'etcd_api', status: 'ok', detail: `using the etcd ${f.etcd.api} API` });
  }
  const byIP = new Map<string, Lease[]>();
  // IPv6-only leases all say PublicIP 0.0.0.0: their hosts are told apart by PublicIPv6.
  for (const l of f.etcd.leases) byIP.set(leaseHostAddress(l), [...(byIP.get(leaseHostAddress(l)) ?? []), l]);
  const dups = [...byIP.entries()].filter(([, ls]) => ls.length > 1);
  if (dups.length === 0) {
    out.push({ id: 'duplicate_public_ip', status: 'ok', detail: `${f.etcd.leases.length} leases, each PublicIP once` });
  } else {
    const [ip, ls] = dups[0] as [string, Lease[]];
    const keys = ls.map((l) => `${f.etcd.subnetsPrefix}/${subnetKey(l.subnet, l.ipv6Subnet)}`);
    out.push({ id: 'duplicate_public_ip', status: 'fail',
      detail: `${dups.map(([p, l]) => `${p} holds ${l.length} leases`).join('; ')}: hosts share one address (e.g. Vagrant's 10.0.2.15) or a stale lease was left`,
      fix: `give each host its own --iface/--public-ip; remove the stale lease: ${deleteKeysHint(f.etcd.api ?? 'v3', keys.slice(1), f.etcd.endpoints)}  (keys of ${ip}: ${keys.join(', ')})` });
  }
  return out;
}

/** Below this, rewriting subnet.env (a few hundred bytes, but a whole block) or the status file may fail. */
const MIN_FREE_BYTES = 64 * 1024;

export function checkSubnetDirSpace(f: DoctorFacts): CheckResult {
  const s = f.subnetDirSpace;
  if (s === undefined || s === null) return { id: 'subnet_file_disk', status: 'skip', detail: `cannot read the free space for ${f.subnetFile}` };
  if (s.freeBytes < MIN_FREE_BYTES || s.freeInodes === 0) {
    return { id: 'subnet_file_disk', status: 'fail',
      detail: `the disk holding ${s.dir} is full (${s.freeBytes} bytes, ${s.freeInodes} inodes free): ${f.subnetFile} cannot be rewritten`,
      fix: `free space on the file system of ${s.dir}; tsflanneld retries the write and /readyz turns ready once it succeeds` };
  }
  return { id: 'subnet_file_disk', status: 'ok', detail: `${Math.floor(s.freeBytes / 1024)} KiB free for ${f.subnetFile}` };
}

export function runChecks(f: DoctorFacts): CheckResult[] {
  return [
    checkIpForward(f), checkIpv6Forward(f), checkVxlan6Mtu(f), checkForwardPolicy(f), checkBrNetfilter(f),
    ...checkVxlanSupport(f), checkInterface(f), ...checkMtu(f), checkDockerOpts(f), checkSubnetDirSpace(f),
    checkUdpPort(f), ...checkEtcd(f),
    checkLeftovers(backendType(f), f.etcd.config, 'error' in f.iface ? null : f.iface.index ?? null, f.kernel ?? null),
    checkTunnelGsoRules(f.filterSave, f.filterSave6 ?? null, f.kernel ? new Set(f.kernel.links.map((l) => l.name)) : null),
  ];
}

export function formatChecks(results: readonly CheckResult[]): string {
  const tag: Record<CheckStatus, string> = { ok: '[ ok ]', warn: '[warn]', fail: '[FAIL]', skip: '[skip]' };
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${tag[r.status]} ${r.id}: ${r.detail}`);
    if (r.fix && (r.status === 'fail' || r.status === 'warn')) lines.push(`       fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('', failed === 0 ? `No problems found${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}.`
    : `${failed} check${failed > 1 ? 's' : ''} failed${warned ? `, ${warned} warning${warned > 1 ? 's' : ''}` : ''}.`);
  return `${lines.join('\n')}\n`;
}
