// Permanent ARP entries and VXLAN forwarding (FDB) entries, as flannel's vxlan backend programs them:
// `ip neigh replace <ip> lladdr <mac> dev <vxlan> nud permanent` and
// `bridge fdb replace <mac> dev <vxlan> dst <ip> self permanent`.
import { AttrStream, FlagsNew, rt } from 'netlink';
import { formatIPv4, ipFromBuffer, ipToBuffer } from '../net/ipv4.js';
import { formatIPv6, ip6FromBuffer, ip6ToBuffer } from '../net/ipv6.js';
import { AF_BRIDGE, AF_INET, AF_INET6, macFromBuf, macToBuf } from './codec.js';
import { isAbsentError } from './errors.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

const RTN_UNICAST = 1;
const REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

/** One neighbour message, sent batched (../batch.ts): `flags` REPLACE for an add, 0 for a delete. */
async function neighbourRequest(s: RtSocket, operation: string, del: boolean, data: rt.Neighbor, attrs: rt.NeighborAttrs): Promise<void> {
  const stream = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, stream);
  await s.batched(operation, { type: del ? rt.MessageType.DELNEIGH : rt.MessageType.NEWNEIGH, flags: del ? 0 : REPLACE,
    data: stream.bufs, query: false });
}

export interface ArpEntry {
  readonly ip: number;
  readonly mac: string;
  readonly permanent: boolean;
}

export interface FdbEntry {
  readonly mac: string;
  /** The remote VTEP (NDA_DST); null for entries without one. */
  readonly dst: number | null;
  readonly permanent: boolean;
  readonly self: boolean;
}

/** Adds or replaces a permanent ARP entry. */
export async function ensureArp(index: number, ip: number, mac: string, s: RtSocket = sharedRtSocket()): Promise<void> {
  const lladdr = macToBuf(mac);
  await neighbourRequest(s, `replace arp ${formatIPv4(ip)} lladdr ${mac} dev #${index}`, false,
    { family: AF_INET, ifindex: index, state: { permanent: true }, type: RTN_UNICAST }, { dst: ipToBuffer(ip), lladdr });
}

/** Deletes the ARP entry for `ip`; false when there was none. */
export async function deleteArpIfPresent(index: number, ip: number, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await neighbourRequest(s, `delete arp ${formatIPv4(ip)} dev #${index}`, true,
      { family: AF_INET, ifindex: index }, { dst: ipToBuffer(ip) });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** IPv4 neighbour entries on one link. */
export async function listArp(index: number, s: RtSocket = sharedRtSocket()): Promise<ArpEntry[]> {
  const messages = await s.dump(`list arp dev #${index}`, (nl, o) => nl.getNeighbors({ family: AF_INET }, {}, o));
  return messages.flatMap((m: rt.NeighborMessage) => {
    const mac = macFromBuf(m.attrs.lladdr);
    if (m.data.ifindex !== index || !m.attrs.dst || m.attrs.dst.length !== 4 || mac === null) return [];
    return [{ ip: ipFromBuffer(m.attrs.dst), mac, permanent: m.data.state?.permanent === true }];
  });
}

/** Adds or replaces a permanent FDB entry sending `mac` to the VTEP at `dst`. */
export async function ensureFdb(index: number, mac: string, dst: number, s: RtSocket = sharedRtSocket()): Promise<void> {
  const lladdr = macToBuf(mac);
  await neighbourRequest(s, `replace fdb ${mac} dst ${formatIPv4(dst)} dev #${index}`, false,
    { family: AF_BRIDGE, ifindex: index, state: { permanent: true }, flags: { self: true } }, { lladdr, dst: ipToBuffer(dst) });
}

/** Deletes the FDB entry for `mac` → `dst`; false when there was none. */
export async function deleteFdbIfPresent(index: number, mac: string, dst: number, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  const lladdr = macToBuf(mac);
  try {
    await neighbourRequest(s, `delete fdb ${mac} dst ${formatIPv4(dst)} dev #${index}`, true,
      { family: AF_BRIDGE, ifindex: index, flags: { self: true } }, { lladdr, dst: ipToBuffer(dst) });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** FDB entries of one link (a VXLAN device's own table when `self`). */
export async function listFdb(index: number, s: RtSocket = sharedRtSocket()): Promise<FdbEntry[]> {
  const messages = await s.dump(`list fdb dev #${index}`, (nl, o) => nl.getNeighbors({ family: AF_BRIDGE }, {}, o));
  return messages.flatMap((m: rt.NeighborMessage) => {
    const mac = macFromBuf(m.attrs.lladdr);
    if (m.data.ifindex !== index || mac === null) return [];
    const dst = m.attrs.dst && m.attrs.dst.length === 4 ? ipFromBuffer(m.attrs.dst) : null;
    return [{ mac, dst, permanent: m.data.state?.permanent === true, self: m.data.flags?.self === true }];
  });
}

/** Adds or replaces a permanent IPv6 neighbour entry (vxlan's twin of ensureArp on flannel-v6.<VNI>). */
export async function ensureNeigh6(index: number, ip: bigint, mac: string, s: RtSocket = sharedRtSocket()): Promise<void> {
  await neighbourRequest(s, `replace neigh ${formatIPv6(ip)} lladdr ${mac} dev #${index}`, false,
    { family: AF_INET6, ifindex: index, state: { permanent: true }, type: RTN_UNICAST }, { dst: ip6ToBuffer(ip), lladdr: macToBuf(mac) });
}

export async function deleteNeigh6IfPresent(index: number, ip: bigint, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await neighbourRequest(s, `delete neigh ${formatIPv6(ip)} dev #${index}`, true,
      { family: AF_INET6, ifindex: index }, { dst: ip6ToBuffer(ip) });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** Adds or replaces a permanent FDB entry sending `mac` to the VTEP at the IPv6 address `dst`. */
export async function ensureFdb6(index: number, mac: string, dst: bigint, s: RtSocket = sharedRtSocket()): Promise<void> {
  await neighbourRequest(s, `replace fdb ${mac} dst ${formatIPv6(dst)} dev #${index}`, false,
    { family: AF_BRIDGE, ifindex: index, state: { permanent: true }, flags: { self: true } }, { lladdr: macToBuf(mac), dst: ip6ToBuffer(dst) });
}

export async function deleteFdb6IfPresent(index: number, mac: string, dst: bigint, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await neighbourRequest(s, `delete fdb ${mac} dst ${formatIPv6(dst)} dev #${index}`, true,
      { family: AF_BRIDGE, ifindex: index, flags: { self: true } }, { lladdr: macToBuf(mac), dst: ip6ToBuffer(dst) });
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

/** Permanent IPv6 neighbour entries of one link (what a vxlan resync compares with its peers). */
export async function listPermanentNeigh6(index: number, s: RtSocket = sharedRtSocket()): Promise<bigint[]> {
  const messages = await s.dump(`list neigh6 dev #${index}`, (nl, o) => nl.getNeighbors({ family: AF_INET6 }, {}, o));
  return messages.flatMap((m: rt.NeighborMessage) =>
    (m.data.ifindex === index && m.data.state?.permanent === true && m.attrs.dst?.length === 16 ? [ip6FromBuffer(m.attrs.dst)] : []));
}

/** Permanent FDB entries of one link whose VTEP is an IPv6 address. */
export async function listFdb6(index: number, s: RtSocket = sharedRtSocket()): Promise<Array<{ mac: string; dst: bigint }>> {
  const messages = await s.dump(`list fdb dev #${index}`, (nl, o) => nl.getNeighbors({ family: AF_BRIDGE }, {}, o));
  return messages.flatMap((m: rt.NeighborMessage) => {
    const mac = macFromBuf(m.attrs.lladdr);
    if (m.data.ifindex !== index || mac === null || m.attrs.dst?.length !== 16 || m.data.state?.permanent !== true) return [];
    return [{ mac, dst: ip6FromBuffer(m.attrs.dst) }];
  });
}
