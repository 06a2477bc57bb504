// Pure: what a peer's lease means for the udp backend. Upstream's udp programs every lease whatever its
// BackendType (its own leases have none), sending to the lease's PublicIP; only a PublicIP that is not IPv4 is
// unusable.
import { formatCidr, parseIPv4, type Ipv4Net } from '../../net/ipv4.js';
import type { Lease } from '../../subnet/lease.js';
import type { PeerReading } from '../kit/peer-diff.js';

export interface UdpPeer {
  readonly subnet: Ipv4Net;
  readonly key: string;
  /** Host-order uint32. */
  readonly publicIP: number;
}

export function readUdpPeer(lease: Lease): PeerReading<UdpPeer> {
  const key = formatCidr(lease.subnet);
  const publicIP = parseIPv4(lease.attrs.publicIP);
  if (publicIP === null) {
    return { kind: 'ignored', reason: `lease ${key} has PublicIP ${JSON.stringify(lease.attrs.publicIP)}, not an IPv4 address` };
  }
  return { kind: 'peer', peer: { subnet: lease.subnet, key, publicIP } };
}
