// Synthetic peer leases for the control-plane measurement, in upstream's etcd layout and JSON (flannel-compat §1):
// key `<prefix>/subnets/A.B.C.D-LEN`, value {"PublicIP","PublicIPv6":null,"BackendType":"host-gw"} or, for vxlan,
// with "BackendData":{"VNI","VtepMAC"}. The fake PublicIPs sit inside the underlay /24, so host-gw and vxlan
// DirectRouting routes to them are valid. Pure.
import { formatIPv4, parseCidr } from '../src/net/ipv4.js';

export interface SyntheticLease {
  readonly key: string;
  readonly value: string;
  /** The route destination the daemon should program, e.g. "10.64.1.0/24". */
  readonly subnet: string;
}

export interface PeerPlan {
  readonly prefix: string;
  /** The config's Network, e.g. 10.64.0.0/12. */
  readonly network: string;
  readonly subnetLen: number;
  /** Subnets to leave out (the daemon's own). */
  readonly exclude: readonly string[];
  /** Fake PublicIPs are `<underlayBase>.<first..last>`, cycled. */
  readonly underlayBase: string;
  readonly firstHost: number;
  readonly lastHost: number;
  /** Lease backend; host-gw when absent. */
  readonly backend?: 'host-gw' | 'vxlan';
}

/** A locally administered unicast MAC unique to peer number i. */
export function peerVtepMac(i: number): string {
  const bytes = [0x0a, 0x58, (i >>> 24) & 0xff, (i >>> 16) & 0xff, (i >>> 8) & 0xff, i & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function syntheticLeases(n: number, plan: PeerPlan): SyntheticLease[] {
  const net = parseCidr(plan.network);
  if (net === null) throw new Error(`bad network ${plan.network}`);
  const size = 2 ** (32 - plan.subnetLen);
  const capacity = 2 ** (plan.subnetLen - net.prefixLen) - 1;
  const exclude = new Set(plan.exclude);
  const span = plan.lastHost - plan.firstHost + 1;
  const out: SyntheticLease[] = [];
  // Index 0 is skipped as upstream's default SubnetMin does.
  for (let i = 1; i <= capacity && out.length < n; i++) {
    const ip = formatIPv4((net.ip + i * size) >>> 0);
    const subnet = `${ip}/${plan.subnetLen}`;
    if (exclude.has(subnet)) continue;
    const publicIP = `${plan.underlayBase}.${plan.firstHost + (out.length % span)}`;
    const value = plan.backend === 'vxlan'
      ? { PublicIP: publicIP, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: peerVtepMac(i) } }
      : { PublicIP: publicIP, PublicIPv6: null, BackendType: 'host-gw' };
    out.push({ key: `${plan.prefix}/subnets/${ip}-${plan.subnetLen}`, subnet, value: JSON.stringify(value) });
  }
  if (out.length < n) throw new Error(`${plan.network} has room for only ${out.length} peer subnets of /${plan.subnetLen}, not ${n}`);
  return out;
}
