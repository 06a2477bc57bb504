// The IPv6 half of the network config (EnableIPv6): IPv6Network, IPv6SubnetLen, IPv6SubnetMin and IPv6SubnetMax,
// with upstream's defaults and checks (flannel-compat §2) in exact 128-bit arithmetic. Pure.
import { formatCidr6, formatIPv6, makeNet6, net6ContainsIP, net6LastIP, parseCidr6, parseIPv6, prefixMask6,
  prefixSize6, type Ipv6Net } from '../net/ipv6.js';
import { ConfigError, fail, subnetLength, type SubnetLenRules } from './checks.js';
import type { Ipv6NetworkConfig } from './network-config.js';

const IPV6_LEN_RULES: SubnetLenRules = { lenField: 'IPv6SubnetLen', networkField: 'IPv6Network', preferred: 64, longest: 126 };

export const EXAMPLE_IPV6 = '"EnableIPv6":true,"IPv6Network":"fd00:10::/56"';

export interface Ipv6Fields {
  readonly IPv6Network?: unknown;
  readonly IPv6SubnetLen?: unknown;
  readonly IPv6SubnetMin?: unknown;
  readonly IPv6SubnetMax?: unknown;
}

function bound(field: 'IPv6SubnetMin' | 'IPv6SubnetMax', value: unknown, network: Ipv6Net, subnetLen: number): bigint | null {
  // Upstream treats an absent or all-zero address as "not set".
  if (value === undefined || value === '') return null;
  const ip = typeof value === 'string' ? parseIPv6(value) : null;
  if (ip === null) fail(field, value, 'use an IPv6 address such as fd00:10:0:1::');
  if (ip === 0n) return null;
  if (!net6ContainsIP(network, ip)) fail(field, value, `it must lie inside IPv6Network ${formatCidr6(network)}`);
  if ((ip & prefixMask6(subnetLen)) !== ip) {
    fail(field, value, `it must be the start of a /${subnetLen} subnet (IPv6SubnetLen ${subnetLen}), e.g. `
      + formatIPv6(makeNet6(ip, subnetLen).ip));
  }
  return ip;
}

/** Reads the IPv6 fields of a config that has EnableIPv6 true. */
export function parseIpv6Network(f: Ipv6Fields): Ipv6NetworkConfig {
  if (f.IPv6Network === undefined || f.IPv6Network === '') {
    throw new ConfigError(`network config has EnableIPv6 but no IPv6Network: add one, e.g. {${EXAMPLE_IPV6},...}`);
  }
  const network = typeof f.IPv6Network === 'string' ? parseCidr6(f.IPv6Network.trim()) : null;
  if (network === null) fail('IPv6Network', f.IPv6Network, 'use an IPv6 CIDR such as "fd00:10::/56"');

  const subnetLen = subnetLength(f.IPv6SubnetLen, network.prefixLen, IPV6_LEN_RULES);
  const size = prefixSize6(subnetLen);
  // As for IPv4 the first subnet is skipped: its network address is the IPv6Network's own.
  const subnetMin = bound('IPv6SubnetMin', f.IPv6SubnetMin, network, subnetLen) ?? network.ip + size;
  const subnetMax = bound('IPv6SubnetMax', f.IPv6SubnetMax, network, subnetLen) ?? net6LastIP(network) + 1n - size;
  if (subnetMin > subnetMax) {
    fail('IPv6SubnetMin', formatIPv6(subnetMin), `it must not be above IPv6SubnetMax ${formatIPv6(subnetMax)}`);
  }
  return { network, subnetLen, subnetMin, subnetMax };
}
