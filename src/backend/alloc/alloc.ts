// The `alloc` backend (upstream's too): it only leases a subnet and publishes it; no device, no routes. It lets the
// control plane run, and be tested, on its own — and lets another program do the forwarding.
import type { Backend, BackendContext, BackendRegistration } from '../backend.js';
import { registerBackend } from '../registry.js';
import type { Lease } from '../../subnet/lease.js';

export const ALLOC_BACKEND_TYPE = 'alloc';

export function createAllocBackend(ctx: BackendContext): Backend {
  const log = ctx.log.child({ component: 'backend-alloc' });
  // Keyed by subnet: an 'added' event for a known subnet is a change of attributes, not a new peer.
  const peers = new Set<string>();
  const key = (l: Lease): string => `${l.subnet.ip}/${l.subnet.prefixLen}`;
  return {
    claims: () => ({ devices: [], ownsRoute: () => false }),
    async register(): Promise<BackendRegistration> {
      return { backendType: ALLOC_BACKEND_TYPE, mtu: ctx.extIface.mtu };
    },
    async start(): Promise<void> {
      // Nothing to address: alloc has no device.
    },
    async resetPeers(leases): Promise<void> {
      peers.clear();
      for (const l of leases) peers.add(key(l));
      log.debug({ peers: peers.size }, 'peer leases (alloc programs nothing)');
    },
    async handleEvents(events): Promise<void> {
      for (const e of events) {
        if (e.type === 'added') peers.add(key(e.lease));
        else peers.delete(key(e.lease));
      }
    },
    async stop(): Promise<void> {},
    async teardown(): Promise<void> {},
    counters: () => ({ peers: peers.size }),
  };
}

registerBackend(ALLOC_BACKEND_TYPE, createAllocBackend);
