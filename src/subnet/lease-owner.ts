// Who wrote a lease value, as the lease manager tells its own key's writes from another host's. Pure.
import type { Lease, LeaseAttrs } from './lease.js';

/**
 * Whether a value was written by the host with `ours`: the same PublicIP and, in an IPv6-only network (PublicIP
 * 0.0.0.0 on every host), the same PublicIPv6.
 */
export function writtenBy(lease: Lease, ours: LeaseAttrs, enableIPv4: boolean): boolean {
  if (lease.attrs.publicIP !== ours.publicIP) return false;
  return enableIPv4 || lease.attrs.publicIPv6 === ours.publicIPv6;
}

/** The writer's address for a message: PublicIP, or PublicIPv6 in an IPv6-only network. */
export function writerOf(lease: Lease, enableIPv4: boolean): string {
  return enableIPv4 ? lease.attrs.publicIP : String(lease.attrs.publicIPv6);
}
