// Peer changes on their way to a backend. A backend pass costs about the same for one lease as for a hundred (it
// compares the whole kernel table), so changes that arrive while a pass runs are merged into the next one: a burst
// of N joins costs a few passes, not N.
import type { Lease, LeaseEvent } from '../subnet/lease.js';

export type PeerUpdate =
  | { readonly kind: 'reset'; readonly peers: readonly Lease[] }
  | { readonly kind: 'events'; readonly events: readonly LeaseEvent[] };

/**
 * Merges queued updates without changing their outcome: a reset is the whole peer set, so it makes everything
 * before it moot; consecutive event lists become one list in the same order.
 */
export function coalescePeerUpdates(queued: readonly PeerUpdate[]): PeerUpdate[] {
  const out: PeerUpdate[] = [];
  // The merged list being built: appended to in place, so many small updates cost linear time, not quadratic.
  let merging: LeaseEvent[] | null = null;
  for (const update of queued) {
    if (update.kind === 'reset') {
      out.length = 0;
      out.push(update);
      merging = null;
    } else if (merging !== null) {
      for (const e of update.events) merging.push(e);
    } else {
      merging = [...update.events];
      out.push({ kind: 'events', events: merging });
    }
  }
  return out;
}
