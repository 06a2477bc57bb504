// Backend.DirectRouting on the userspace datapath's IPv4 half: a peer whose PublicIP is on our L2 gets a plain kernel
// route via that PublicIP, more specific than `<Network> dev flannel.<VNI>`, so its traffic skips the TUN (its frames
// are still accepted). The routes are the kernel datapath's (reconcile.ts), without neighbours or FDB entries.
import type { Logger } from '../../log.js';
import { deleteRouteIfPresent, listRoutes, replaceRoute } from '../../netlink/routes.js';
import { peerRoute, planVxlanResync, type ProgrammedPeer } from './reconcile.js';

export class DirectRoutes {
  constructor(private readonly deviceName: string, private readonly log: Logger) {}

  /** Never throws: without the route the TUN route still carries the traffic, only without the shortcut. */
  async install(p: ProgrammedPeer): Promise<void> {
    await replaceRoute(peerRoute(p, 0)).catch((err: unknown) => this.log.error(
      { subnet: p.peer.key, publicIP: p.peer.publicIP },
      `DirectRouting route failed, traffic goes through ${this.deviceName}: ${(err as Error).message}`));
  }

  async remove(p: ProgrammedPeer): Promise<void> {
    await deleteRouteIfPresent(peerRoute(p, 0)).catch((err: unknown) =>
      this.log.warn({ subnet: p.peer.key }, `removing the DirectRouting route failed: ${(err as Error).message}`));
  }

  /**
   * A DirectRouting route deleted or changed by hand (or by another tool) comes back: one route dump compared with
   * the direct ones of `peers` by the kernel datapath's planner (a direct peer needs only its route).
   */
  async resync(peers: ReadonlyMap<string, ProgrammedPeer>): Promise<void> {
    const direct = new Map([...peers].filter(([, p]) => p.direct));
    if (direct.size === 0) return;
    const plan = planVxlanResync(direct, 0, { routes: await listRoutes(), arp: [], fdb: [] }, false);
    for (const key of plan.reprogram) {
      const p = direct.get(key)!;
      this.log.warn({ subnet: key, publicIP: p.peer.publicIP }, 'DirectRouting route missing; adding it again');
      await this.install(p);
    }
  }
}
