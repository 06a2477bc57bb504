// The lease model shared by the subnet manager, the backends and the tools. Wire JSON and key formats
// (upstream's LeaseAttrs and `A.B.C.D-LEN` keys) are encoded and decoded in ./codec.ts.
import type { Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';

/** What a host publishes about itself in its lease value (upstream's LeaseAttrs). */
export interface LeaseAttrs {
  /** Dotted quad: the address peers send to (ExtAddr, or --public-ip). */
  readonly publicIP: string;
  /** Upstream writes null when there is no IPv6; kept as-is to round-trip foreign leases. */
  readonly publicIPv6: string | null;
  /** Omitted by upstream's udp backend; `vxlan`, `host-gw`, `alloc`, … */
  readonly backendType?: string;
  /** Backend specific, e.g. vxlan {VNI, VtepMAC}. Kept as parsed JSON. */
  readonly backendData?: unknown;
  readonly backendV6Data?: unknown;
}

export interface Lease {
  readonly subnet: Ipv4Net;
  /** The IPv6 part of a dual-stack key (`…&fd00:0:0:5::-64`); absent or null for an IPv4-only lease. */
  readonly ipv6Subnet?: Ipv6Net | null;
  readonly attrs: LeaseAttrs;
  /**
   * When the etcd lease runs out; null for a reservation (a key with no etcd lease, never expires), and in peer
   * leases from the v3 prefix watch, which does not look expiries up (nothing that routes reads them).
   */
  readonly expiration: Date | null;
  /** etcd lease id (decimal string) or '0' for a reservation. */
  readonly etcdLeaseId: string;
  /** mod_revision of the key when it was read. */
  readonly revision: string;
}

export type LeaseEvent =
  | { readonly type: 'added'; readonly lease: Lease }
  | { readonly type: 'removed'; readonly lease: Lease };

/** vxlan BackendData as upstream writes it: {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}. */
export interface VxlanBackendData {
  readonly VNI: number;
  readonly VtepMAC: string;
}
