// DirectRouting (flannel-compat §5), shared by the kernel and the userspace vxlan datapaths: a peer whose PublicIP
// the kernel reaches without a gateway is on our L2, so its subnet gets a plain route via that PublicIP and its
// traffic skips VXLAN. The decision is the kernel's own route lookup, as upstream makes it.
import type { Logger } from '../../log.js';
import { parseIPv4 } from '../../net/ipv4.js';
import { routeGateway } from '../../netlink/route-lookup.js';
import { getRoute6 } from '../../netlink/routes6.js';
import type { VxlanPeer } from './peers.js';

/** True when `ip route get <PublicIP>` has no gateway. A failed lookup is logged and means "not direct". */
export async function isOnOurL2(peer: VxlanPeer, log: Logger): Promise<boolean> {
  const publicIP = parseIPv4(peer.publicIP);
  if (publicIP === null) return false;
  try {
    return (await routeGateway(publicIP)) === null;
  } catch (err) {
    log.warn({ subnet: peer.key }, `route lookup for DirectRouting failed: ${(err as Error).message}`);
    return false;
  }
}

/** The IPv6 twin: true when `ip -6 route get <PublicIPv6>` has no gateway; `what` names the peer in a failure. */
export async function isOnOurL2v6(publicIPv6: bigint, what: string, log: Logger): Promise<boolean> {
  try {
    return (await getRoute6(publicIPv6)).gateway === null;
  } catch (err) {
    log.warn({ subnet: what }, `route lookup for DirectRouting failed: ${(err as Error).message}`);
    return false;
  }
}
