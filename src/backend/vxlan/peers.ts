// Pure: what a peer's lease means for the vxlan datapaths. Upstream ignores leases of other backend types and
// reads BackendData with Go's encoding/json (case-insensitive keys; net.ParseMAC for the MAC).
import { formatCidr, formatIPv4, parseIPv4, type Ipv4Net } from '../../net/ipv4.js';
import type { Lease } from '../../subnet/lease.js';
import { foreignBackendReason } from '../kit/peer-diff.js';

export interface VxlanPeer {
  readonly subnet: Ipv4Net;
  /** `a.b.c.d/len`, the key peers are tracked by. */
  readonly key: string;
  /** The peer subnet's network address: the ARP entry's IP and the onlink route's gateway. */
  readonly subnetIP: string;
  readonly publicIP: string;
  /** Lower-case `aa:bb:cc:dd:ee:ff`. */
  readonly vtepMac: string;
  readonly vni: number | null;
}

export type PeerReading =
  | { readonly kind: 'peer'; readonly peer: VxlanPeer }
  | { readonly kind: 'ignored'; readonly reason: string };

const MAC_PARTS = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;

/** Normalises a 6-byte MAC written with ':' or '-' separators; null when it is not one. */
export function normaliseMac(text: string): string | null {
  const m = MAC_PARTS.exec(text.trim());
  return m ? m.slice(1).join(':').toLowerCase() : null;
}

function field(data: Record<string, unknown>, name: string): unknown {
  let found: unknown;
  for (const [k, v] of Object.entries(data)) if (k.toLowerCase() === name.toLowerCase()) found = v;
  return found;
}

/** Reads a lease as a vxlan peer, or says why it is not one (logged by the caller). */
export function readVxlanPeer(lease: Lease): PeerReading {
  const key = formatCidr(lease.subnet);
  const foreign = foreignBackendReason(lease, 'vxlan');
  if (foreign !== null) return { kind: 'ignored', reason: foreign };
  const data = lease.attrs.backendData;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { kind: 'ignored', reason: `lease ${key} has no vxlan BackendData object` };
  }
  const macText = field(data as Record<string, unknown>, 'VtepMAC');
  const vtepMac = typeof macText === 'string' ? normaliseMac(macText) : null;
  if (vtepMac === null) {
    return { kind: 'ignored', reason: `lease ${key} has BackendData.VtepMAC ${JSON.stringify(macText)}, not a MAC address` };
  }
  const publicIP = parseIPv4(lease.attrs.publicIP);
  if (publicIP === null) {
    return { kind: 'ignored', reason: `lease ${key} has PublicIP ${JSON.stringify(lease.attrs.publicIP)}, not an IPv4 address` };
  }
  const vni = field(data as Record<string, unknown>, 'VNI');
  return {
    kind: 'peer',
    peer: {
      subnet: lease.subnet, key, subnetIP: formatIPv4(lease.subnet.ip), publicIP: formatIPv4(publicIP), vtepMac,
      vni: typeof vni === 'number' && Number.isInteger(vni) ? vni : null,
    },
  };
}

/** True when a changed lease needs its entries rewritten (upstream's replace covers it; we remove old FDB/ARP too). */
export function peerChanged(a: VxlanPeer, b: VxlanPeer): boolean {
  return a.vtepMac !== b.vtepMac || a.publicIP !== b.publicIP;
}
