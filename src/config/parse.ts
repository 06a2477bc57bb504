// Parses and validates the network config JSON from `<prefix>/config` the way upstream's Go code does
// (flannel-compat §2): keys matched case-insensitively, unknown keys ignored, defaults for SubnetLen, SubnetMin and
// SubnetMax, Backend.Type lower-cased with `udp` when Backend is absent. Pure; every error is one line.
import { formatIPv4, makeNet, netContainsIP, netLastIP, parseCidr, parseIPv4, prefixSize } from '../net/ipv4.js';
import { truncateForLog } from '../log-values.js';
import { ConfigError, fail, subnetLength, type SubnetLenRules } from './checks.js';
export { ConfigError } from './checks.js';
import type { BackendConfig, NetworkConfig } from './network-config.js';
import { parseIpv6Network } from './parse-ipv6.js';

/** A usable config to show in fixes. */
export const EXAMPLE_CONFIG = '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan"}}';

const FIELDS = ['EnableIPv4', 'EnableIPv6', 'EnableNFTables', 'Network', 'SubnetLen', 'SubnetMin', 'SubnetMax',
  'IPv6Network', 'IPv6SubnetLen', 'IPv6SubnetMin', 'IPv6SubnetMax', 'Backend'] as const;
type Field = typeof FIELDS[number];

/**
 * Go's encoding/json assigns each JSON key to the field whose name matches it, case-insensitively, and a later
 * key overwrites an earlier one; keys matching no field are dropped.
 */
function pickFields(obj: Record<string, unknown>): Partial<Record<Field, unknown>> {
  const out: Partial<Record<Field, unknown>> = {};
  for (const [key, value] of Object.entries(obj)) {
    const field = FIELDS.find((f) => f === key) ?? FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
    // JSON null leaves a Go field at its zero value (or its preset default).
    if (field !== undefined && value !== null) out[field] = value;
  }
  return out;
}

function bool(field: Field, value: unknown, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') fail(field, value, 'use true or false');
  return value;
}

function subnetBound(field: 'SubnetMin' | 'SubnetMax', value: unknown, network: NetworkConfig['network'],
  subnetLen: number): number | null {
  if (value === undefined || value === '') return null;
  const ip = typeof value === 'string' ? parseIPv4(value) : null;
  if (ip === null) fail(field, value, 'use an IPv4 address such as 10.0.1.0');
  if (!netContainsIP(network, ip)) {
    fail(field, value, `it must lie inside Network ${formatIPv4(network.ip)}/${network.prefixLen}`);
  }
  if (ip % prefixSize(subnetLen) !== 0) {
    fail(field, value, `it must be the start of a /${subnetLen} subnet (SubnetLen ${subnetLen}), e.g. ${formatIPv4(makeNet(ip, subnetLen).ip)}`);
  }
  return ip;
}

const IPV4_LEN_RULES: SubnetLenRules = { lenField: 'SubnetLen', networkField: 'Network', preferred: 24, longest: 30 };

function backendConfig(value: unknown): BackendConfig {
  if (value === undefined) return { type: 'udp', raw: {} };
  if (typeof value !== 'object' || Array.isArray(value) || value === null) {
    fail('Backend', value, 'use an object such as {"Type":"vxlan"}');
  }
  const raw = value as Record<string, unknown>;
  const typeKey = Object.keys(raw).filter((k) => k.toLowerCase() === 'type').pop();
  const type = typeKey === undefined ? undefined : raw[typeKey];
  if (typeof type !== 'string' || type.trim() === '') {
    fail('Backend.Type', type ?? null, 'set it to a backend such as "vxlan", "host-gw" or "alloc"');
  }
  return { type: type.trim().toLowerCase(), raw };
}

/**
 * EnableIPv4 false: upstream skips every IPv4 check and leaves the IPv4 fields at Go's zero values (Network,
 * SubnetMin and SubnetMax ignored even when set), which is what the `0.0.0.0/0` placeholder here stands for.
 */
function ipv6OnlyConfig(f: Partial<Record<Field, unknown>>, enableNFTables: boolean): NetworkConfig {
  return {
    enableIPv4: false, enableIPv6: true, enableNFTables, network: { ip: 0, prefixLen: 0 }, subnetLen: 0, subnetMin: 0,
    subnetMax: 0, ipv6: parseIpv6Network(f), backend: backendConfig(f.Backend),
  };
}

export function parseNetworkConfig(text: string): NetworkConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`network config is not valid JSON (${truncateForLog((e as Error).message)}): `
      + `write it like ${EXAMPLE_CONFIG}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`network config is not a JSON object: write it like ${EXAMPLE_CONFIG}`);
  }
  const f = pickFields(parsed as Record<string, unknown>);

  const enableIPv4 = bool('EnableIPv4', f.EnableIPv4, true);
  const enableIPv6 = bool('EnableIPv6', f.EnableIPv6, false);
  const enableNFTables = bool('EnableNFTables', f.EnableNFTables, false);
  if (!enableIPv4) {
    // Upstream's "none defined stack": a network needs at least one family.
    if (!enableIPv6) fail('EnableIPv4', false, 'with EnableIPv6 false no address family is left; set EnableIPv6 true and IPv6Network');
    return ipv6OnlyConfig(f, enableNFTables);
  }

  if (f.Network === undefined || f.Network === '') {
    throw new ConfigError(`network config has no Network: add one, e.g. ${EXAMPLE_CONFIG}`);
  }
  const network = typeof f.Network === 'string' ? parseCidr(f.Network.trim()) : null;
  if (network === null) fail('Network', f.Network, 'use an IPv4 CIDR such as "10.0.0.0/16"');

  const subnetLen = subnetLength(f.SubnetLen, network.prefixLen, IPV4_LEN_RULES);
  const size = prefixSize(subnetLen);
  const subnetMin = subnetBound('SubnetMin', f.SubnetMin, network, subnetLen) ?? network.ip + size;
  const subnetMax = subnetBound('SubnetMax', f.SubnetMax, network, subnetLen) ?? netLastIP(network) + 1 - size;
  if (subnetMin > subnetMax) {
    fail('SubnetMin', formatIPv4(subnetMin), `it must not be above SubnetMax ${formatIPv4(subnetMax)}`);
  }

  return {
    enableIPv4,
    enableIPv6,
    enableNFTables,
    network,
    subnetLen,
    subnetMin,
    subnetMax,
    ipv6: enableIPv6 ? parseIpv6Network(f) : null,
    backend: backendConfig(f.Backend),
  };
}
