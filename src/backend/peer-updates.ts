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
  for (const update of queued) {
    const last = out[out.length - 1];
    if (update.kind === 'reset') {
      out.length = 0;
      out.push(update);
    } else if (last?.kind === 'events') {
      out[out.length - 1] = { kind: 'events', events: [...last.events, ...update.events] };
    } else {
      out.push(update);
    }
  }
  return out;
}
