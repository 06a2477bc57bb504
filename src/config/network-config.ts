// The validated network config (from `<prefix>/config`). Parsing and validation live in ./parse.ts.
import type { Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';

export interface BackendConfig {
  /** Lower-cased Backend.Type: `vxlan`, `host-gw`, `alloc`, `udp`, … (upstream default when absent: `udp`). */
  readonly type: string;
  /** The Backend object as given, keys as written (backends read their own keys case-insensitively). */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface NetworkConfig {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly enableNFTables: boolean;
  /** Host bits masked. With EnableIPv4 false (IPv6-only) `0.0.0.0/0` and the three fields below 0, as upstream. */
  readonly network: Ipv4Net;
  readonly subnetLen: number;
  /** First and last subnet network addresses (inclusive), uint32, aligned to subnetLen. */
  readonly subnetMin: number;
  readonly subnetMax: number;
  /** Set when EnableIPv6 is true: the IPv6 twin of the fields above (absent or null: no IPv6). */
  readonly ipv6?: Ipv6NetworkConfig | null;
  readonly backend: BackendConfig;
}

export interface Ipv6NetworkConfig {
  /** IPv6Network, host bits masked. */
  readonly network: Ipv6Net;
  readonly subnetLen: number;
  /** First and last subnet network addresses (inclusive), aligned to subnetLen. */
  readonly subnetMin: bigint;
  readonly subnetMax: bigint;
}
