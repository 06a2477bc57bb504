// Holds the running backend and can replace it with another while the daemon runs (a Backend.Type, VNI, Port or
// DirectRouting change in etcd): the old one is torn down (its devices and routes removed), leftovers cleared, the
// new one registered and started with our lease, then given the peer set the old one last had. Peer updates that
// arrive during the switch are only recorded, and reach the new backend with that set.
import type { Logger } from '../../log.js';
import { formatCidr, type Ipv4Net } from '../../net/ipv4.js';
import type { Lease } from '../../subnet/lease.js';
import type { BackendRegistration } from '../backend.js';
import type { PeerUpdate } from '../peer-updates.js';
import type { DrivenBackend } from '../registry.js';
import { removeLeftovers } from './leftovers.js';

export class BackendSwitcher {
  /** The peer leases as the last updates left them, by subnet: what a new backend starts from. */
  private readonly peers = new Map<string, Lease>();
  private peersKnown = false;
  private switching = false;

  constructor(private backend: DrivenBackend, private readonly log: Logger) {}

  get current(): DrivenBackend {
    return this.backend;
  }

  update(u: PeerUpdate): void {
    if (u.kind === 'reset') {
      this.peers.clear();
      for (const l of u.peers) this.peers.set(formatCidr(l.subnet), l);
      this.peersKnown = true;
    } else {
      for (const e of u.events) {
        if (e.type === 'added') this.peers.set(formatCidr(e.lease.subnet), e.lease);
        else this.peers.delete(formatCidr(e.lease.subnet));
      }
    }
    if (!this.switching) this.backend.update(u);
  }

  /**
   * Replaces the running backend with `next` (built, not yet registered). Throws when `next` cannot register or
   * start; the old backend is gone by then, so the caller says so and may switch again.
   */
  async switchTo(next: DrivenBackend, network: Ipv4Net, own: Lease): Promise<BackendRegistration> {
    this.switching = true;
    let registration: BackendRegistration;
    try {
      const old = this.backend;
      await old.drain();
      await old.teardown();
      this.backend = next;
      await removeLeftovers(next.claims(), network, this.log);
      registration = await next.register();
      await next.start(own);
    } finally {
      this.switching = false;
    }
    // Only a backend that registered and started gets peers: one that refused (e.g. host-gw behind NAT) programs
    // nothing until the next switch.
    if (this.peersKnown) this.backend.update({ kind: 'reset', peers: [...this.peers.values()] });
    return registration;
  }
}
