// How both vxlan datapaths read peer leases through the kit: vxlan's own reading, plus the two checks that need
// our own state: a VNI that differs from ours, and a peer that publishes our VtepMAC (a cloned --state-dir).
import type { Logger } from '../../log.js';
import type { Lease } from '../../subnet/lease.js';
import { PeerDiff, type PeerReading } from '../kit/peer-diff.js';
import { readVxlanPeer, type VxlanPeer } from './peers.js';

export interface VxlanReadingPolicy {
  readonly vni: number;
  /** Our PublicIP and current VtepMAC. */
  readonly own: () => { readonly publicIP: string; readonly vtepMac: string };
  /** Ignore (userspace) or only warn about (kernel, as upstream) a peer with another VNI. */
  readonly otherVni: 'ignore' | 'warn';
  /** A peer from another PublicIP publishes our VtepMAC: we must change ours. */
  readonly onClash: (peer: VxlanPeer) => void;
}

/** True when `peer` (another host) publishes the VtepMAC we use: kernel VXLAN between the two fails silently. */
export function isVtepClash(peer: VxlanPeer, own: { publicIP: string; vtepMac: string }): boolean {
  return peer.vtepMac === own.vtepMac && peer.publicIP !== own.publicIP;
}

export function vxlanPeerDiff(policy: VxlanReadingPolicy, log: Logger): PeerDiff<VxlanPeer> {
  const diff: PeerDiff<VxlanPeer> = new PeerDiff((lease: Lease): PeerReading<VxlanPeer> => {
    const reading = readVxlanPeer(lease);
    if (reading.kind === 'ignored') return reading;
    const peer = reading.peer;
    if (peer.vni !== null && peer.vni !== policy.vni) {
      const advice = `peer ${peer.key} uses VNI ${peer.vni}, this network uses ${policy.vni}; give every node the same Backend.VNI`;
      if (policy.otherVni === 'ignore') return { kind: 'ignored', reason: advice };
      diff.warnOnce(lease, advice);
    }
    if (isVtepClash(peer, policy.own())) policy.onClash(peer);
    return reading;
  }, log);
  return diff;
}
