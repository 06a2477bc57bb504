// IPv6 interface addresses: listed for the choice of this host's PublicIPv6, added to flannel-v6.<VNI>.
import { FlagsNew, rt } from 'netlink';
import { formatIPv6, ip6FromBuffer, ip6ToBuffer } from '../net/ipv6.js';
import { AF_INET6 } from './codec.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

export interface AddressInfo6 {
  readonly index: number;
  readonly ip: bigint;
  readonly prefixLen: number;
  /** Still in duplicate address detection (or failed it): not an address peers can reach yet. */
  readonly tentative: boolean;
}

function fromMessage(m: rt.AddressMessage): AddressInfo6 | null {
  const buf = m.attrs.address ?? m.attrs.local;
  if (m.data.family !== AF_INET6 || !buf || buf.length !== 16) return null;
  const flags = m.attrs.flags ?? m.data.flags ?? {};
  return { index: m.data.index ?? 0, ip: ip6FromBuffer(buf), prefixLen: m.data.prefixlen ?? 0,
    tentative: flags.tentative === true || flags.dadfailed === true };
}

/** IPv6 addresses in the kernel's order; all links unless `index` is given. */
export async function listAddresses6(index?: number, s: RtSocket = sharedRtSocket()): Promise<AddressInfo6[]> {
  const messages = await s.dump('list IPv6 addresses', (nl, o) => nl.getAddresses({ family: AF_INET6 }, {}, o));
  return messages.flatMap((m) => {
    const a = fromMessage(m);
    return a && (index === undefined || a.index === index) ? [a] : [];
  });
}

/** Adds `ip/prefixLen` (no duplicate address detection: flannel's device addresses are unique by lease). */
export async function ensureAddress6(index: number, ip: bigint, prefixLen: number, s: RtSocket = sharedRtSocket()): Promise<void> {
  const buf = ip6ToBuffer(ip);
  await s.request(`ensure address ${formatIPv6(ip)}/${prefixLen} on link #${index}`, (nl, o) =>
    nl.newAddress({ family: AF_INET6, prefixlen: prefixLen, index }, { local: buf, address: buf, flags: { nodad: true } },
      { ...o, flags: FlagsNew.CREATE | FlagsNew.REPLACE }));
}
