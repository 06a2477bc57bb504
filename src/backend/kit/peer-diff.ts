// Turns the daemon's peer updates (a whole list, or events) into per-peer steps against the set a backend holds:
// set this peer (new or changed), remove that key. Leases a backend cannot use (another BackendType in a cluster
// mid-switch, bad BackendData) are warned about once per lease and reason, not at every pass.
import type { Logger } from '../../log.js';
import { leaseName } from '../../subnet/codec.js';
import type { Lease, LeaseEvent } from '../../subnet/lease.js';

export type PeerReading<P> =
  | { readonly kind: 'peer'; readonly peer: P }
  | { readonly kind: 'ignored'; readonly reason: string }
  /** Nothing here for this backend, and nothing amiss (an IPv4-only peer to an IPv6 half, our own lease). */
  | { readonly kind: 'none' };

export type PeerStep<P> =
  | { readonly op: 'set'; readonly key: string; readonly peer: P }
  | { readonly op: 'remove'; readonly key: string };

/** A foreign value quoted in a log line is cut to this many characters (a 1 MB value must not flood logs). */
const MAX_REASON = 300;

/** The key a backend holds a peer under: its IPv4 subnet (`10.0.5.0/24`), or in an IPv6-only network its IPv6 one. */
export function peerKey(lease: Lease): string {
  return leaseName(lease.subnet, lease.ipv6Subnet);
}

/** Why a lease of another backend type is not ours to program, or null when it is ours. */
export function foreignBackendReason(lease: Lease, ours: string): string | null {
  const type = lease.attrs.backendType ?? '';
  if (type === ours) return null;
  return `lease ${peerKey(lease)} of ${lease.attrs.publicIP} has BackendType ${JSON.stringify(type)}, not ${ours}:`
    + ` not programmed until every node uses the same Backend.Type`;
}

export class PeerDiff<P> {
  /** Lease key → the reason it was warned about, so the same lease is not warned about again. */
  private readonly warned = new Map<string, string>();
  ignoredLeases = 0;

  constructor(private readonly read: (lease: Lease) => PeerReading<P>, private readonly log: Logger) {}

  /** Steps from the current keys to exactly `leases`: removals first, then every wanted peer (set is idempotent). */
  reset(leases: readonly Lease[], current: Iterable<string>): PeerStep<P>[] {
    const wanted = new Map<string, P>();
    for (const lease of leases) {
      const peer = this.readOnce(lease);
      // The last lease of a subnet counts (as events apply in order).
      if (peer !== null) wanted.set(peerKey(lease), peer);
      else wanted.delete(peerKey(lease));
    }
    const listed = new Set(leases.map((l) => peerKey(l)));
    for (const key of [...this.warned.keys()]) if (!listed.has(key)) this.warned.delete(key);
    const steps: PeerStep<P>[] = [];
    for (const key of current) if (!wanted.has(key)) steps.push({ op: 'remove', key });
    for (const [key, peer] of wanted) steps.push({ op: 'set', key, peer });
    return steps;
  }

  /** One step per event, in order; an added lease we cannot use removes what we had for its subnet. */
  events(events: readonly LeaseEvent[]): PeerStep<P>[] {
    return events.map((e): PeerStep<P> => {
      const key = peerKey(e.lease);
      if (e.type === 'removed') {
        this.warned.delete(key);
        return { op: 'remove', key };
      }
      const peer = this.readOnce(e.lease);
      return peer === null ? { op: 'remove', key } : { op: 'set', key, peer };
    });
  }

  /** Logs a warning about one lease once per distinct message (e.g. a VNI mismatch the backend tolerates). */
  warnOnce(lease: Lease, message: string): void {
    const key = peerKey(lease);
    if (this.warned.get(key) === message) return;
    this.warned.set(key, message);
    this.log.warn({ subnet: key, publicIP: lease.attrs.publicIP }, message);
  }

  private readOnce(lease: Lease): P | null {
    const reading = this.read(lease);
    if (reading.kind === 'peer') return reading.peer;
    if (reading.kind === 'none') return null;
    this.ignoredLeases++;
    const reason = reading.reason.length > MAX_REASON
      ? `${reading.reason.slice(0, MAX_REASON)}… (${reading.reason.length} characters)` : reading.reason;
    this.warnOnce(lease, `ignoring peer lease: ${reason}`);
    return null;
  }
}
