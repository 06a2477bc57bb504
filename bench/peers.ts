// Synthetic peer leases for the control-plane measurement, in upstream's etcd layout and JSON (flannel-compat §1):
// key `<prefix>/subnets/A.B.C.D-LEN`, value {"PublicIP","PublicIPv6":null,"BackendType":"host-gw"}. The fake
// PublicIPs sit inside the underlay /24, so the host-gw routes to them are valid. Pure.
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
    out.push({ key: `${plan.prefix}/subnets/${ip}-${plan.subnetLen}`, subnet,
      value: JSON.stringify({ PublicIP: publicIP, PublicIPv6: null, BackendType: 'host-gw' }) });
  }
  if (out.length < n) throw new Error(`${plan.network} has room for only ${out.length} peer subnets of /${plan.subnetLen}, not ${n}`);
  return out;
}
