// Dual-stack keys (`10.0.5.0-24&fd00:0:0:5::-64`) let two hosts that race for the same IPv4 (or IPv6) subnet both
// win: each creates a key the other does not have, so etcd's create-if-absent guard sees no conflict. Upstream keeps
// both leases; tsflanneld settles it after the create: of the leases sharing a half, the one created first (lowest
// revision) keeps it and every later one steps back and picks again. Pure: the caller lists and deletes.
import { isIpv6OnlySubnet, subnetKey } from './codec.js';
import type { Lease } from './lease.js';

function sameV4Half(a: Lease, b: Lease): boolean {
  if (isIpv6OnlySubnet(a.subnet) || isIpv6OnlySubnet(b.subnet)) return false;
  return a.subnet.ip >>> 0 === b.subnet.ip >>> 0 && a.subnet.prefixLen === b.subnet.prefixLen;
}

function sameV6Half(a: Lease, b: Lease): boolean {
  const x = a.ipv6Subnet;
  const y = b.ipv6Subnet;
  return x != null && y != null && x.ip === y.ip && x.prefixLen === y.prefixLen;
}

/**
 * The earlier lease that shares a half of `ours` under another key, or null when ours stands. A freshly created key
 * has equal create and mod revisions, and a lease that existed before our list cannot share a half (the choice
 * skipped it), so comparing the revisions read in one list orders the racers by creation.
 */
export function earlierClaimOfAHalf(ours: Lease, listed: readonly Lease[]): Lease | null {
  const ourKey = subnetKey(ours.subnet, ours.ipv6Subnet);
  const ourRevision = BigInt(ours.revision);
  let earliest: Lease | null = null;
  for (const other of listed) {
    if (subnetKey(other.subnet, other.ipv6Subnet) === ourKey) continue;
    if (!sameV4Half(ours, other) && !sameV6Half(ours, other)) continue;
    if (BigInt(other.revision) >= ourRevision) continue;
    if (earliest === null || BigInt(other.revision) < BigInt(earliest.revision)) earliest = other;
  }
  return earliest;
}
