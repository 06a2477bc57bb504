// How the operator tools (status, doctor, metrics, the sd_notify line) name a network, a lease and a host: only the
// address families they have. An IPv6-only lease's IPv4 half is upstream's empty `0.0.0.0/0` (subnet/codec.ts), and
// an IPv6-only config's Network is zero too: neither is a subnet, so neither is printed as one. Pure.
import type { NetworkConfig } from '../config/network-config.js';
import { formatCidr } from '../net/ipv4.js';
import { formatCidr6 } from '../net/ipv6.js';
import { isIpv6OnlySubnet } from '../subnet/codec.js';
import type { Lease } from '../subnet/lease.js';

/** The IPv4 network, or null in an IPv6-only network (EnableIPv4 false). */
export function ipv4NetworkText(config: NetworkConfig): string | null {
  return config.enableIPv4 ? formatCidr(config.network) : null;
}

/** `10.5.0.0/16`, `10.5.0.0/16 and fd00:5::/56`, or `fd00:5::/56`. */
export function networkText(config: NetworkConfig): string {
  return [ipv4NetworkText(config), config.ipv6 ? formatCidr6(config.ipv6.network) : null]
    .filter((x): x is string => x !== null).join(' and ');
}

/** A lease's IPv4 subnet, or null for an IPv6-only lease. */
export function leaseIpv4Subnet(lease: Pick<Lease, 'subnet'>): string | null {
  return isIpv6OnlySubnet(lease.subnet) ? null : formatCidr(lease.subnet);
}

/** A lease's subnets, space-separated: `10.5.1.0/24`, `10.5.1.0/24 fd00:5:0:1::/64` or `fd00:5:0:1::/64`. */
export function leaseSubnetsText(lease: Pick<Lease, 'subnet' | 'ipv6Subnet'>): string {
  return [leaseIpv4Subnet(lease), lease.ipv6Subnet ? formatCidr6(lease.ipv6Subnet) : null]
    .filter((x): x is string => x !== null).join(' ');
}

/** The host's PublicIP, its PublicIPv6 too when set; an IPv6-only lease's PublicIP (0.0.0.0) is left out. */
export function leasePublicText(lease: Pick<Lease, 'subnet' | 'attrs'>): string {
  const v4 = isIpv6OnlySubnet(lease.subnet) && lease.attrs.publicIPv6 ? null : lease.attrs.publicIP;
  return [v4, lease.attrs.publicIPv6 ?? null].filter((x): x is string => !!x).join(' ');
}

/** The address that tells hosts apart in this lease: PublicIP, or PublicIPv6 for an IPv6-only lease. */
export function leaseHostAddress(lease: Pick<Lease, 'subnet' | 'attrs'>): string {
  return isIpv6OnlySubnet(lease.subnet) && lease.attrs.publicIPv6 ? lease.attrs.publicIPv6 : lease.attrs.publicIP;
}
