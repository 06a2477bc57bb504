// `ip route get <IPv4>` reduced to what DirectRouting asks of it: does the kernel reach this address through a
// gateway? A burst of joining peers is one lookup each; the package's generic formatter and parser build and read
// every rtmsg field and attribute into objects per lookup, where the request is 20 fixed bytes and the answer one
// attribute (RTA_GATEWAY). test/unit/route-lookup.test.ts holds both ends to the package's own coding.
import { rt } from 'netlink';
import { formatIPv4, ipFromBuffer } from '../net/ipv4.js';
import { AF_INET } from './codec.js';
import { NetlinkError } from './errors.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

const RTMSG_LEN = 12;
const RTA_DST = 1;
const RTA_GATEWAY = 5;
/** An attribute's type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

/** The GETROUTE payload for `dst`: an rtmsg (AF_INET, /32, the rest zero) and RTA_DST. Pure. */
export function routeLookupPayload(dst: number): Uint8Array {
  const b = new Uint8Array(RTMSG_LEN + 8);
  b[0] = AF_INET;
  b[1] = 32;
  b[RTMSG_LEN] = 8; // rta_len, little-endian u16
  b[RTMSG_LEN + 2] = RTA_DST;
  b[RTMSG_LEN + 4] = dst >>> 24;
  b[RTMSG_LEN + 5] = (dst >>> 16) & 0xff;
  b[RTMSG_LEN + 6] = (dst >>> 8) & 0xff;
  b[RTMSG_LEN + 7] = dst & 0xff;
  return b;
}

/**
 * The gateway of a route message (`type`, payload `data`) as a uint32, null when it has none, undefined when it is not
 * an IPv4 route or its attributes do not parse. Pure.
 */
export function gatewayOfRouteMessage(type: number, data: Uint8Array): number | null | undefined {
  if (type !== rt.MessageType.NEWROUTE && type !== rt.MessageType.DELROUTE && type !== rt.MessageType.GETROUTE) return undefined;
  if (data.length < RTMSG_LEN || data[0] !== AF_INET) return undefined;
  let gateway: number | null = null;
  let at = RTMSG_LEN;
  while (at + 4 <= data.length) {
    const len = data[at]! | (data[at + 1]! << 8);
    if (len < 4 || at + len > data.length) return undefined;
    const attr = (data[at + 2]! | (data[at + 3]! << 8)) & NLA_TYPE_MASK;
    if (attr === RTA_GATEWAY) gateway = len === 8 ? ipFromBuffer(data, at + 4) : null;
    at += (len + 3) & ~3;
  }
  return gateway;
}

/** The gateway of the route the kernel would use for `dst` (null: none, on link). Rejects as getRoute does. */
export async function routeGateway(dst: number, s: RtSocket = sharedRtSocket()): Promise<number | null> {
  const operation = `route lookup ${formatIPv4(dst)}`;
  const reply = await s.batched(operation, { type: rt.MessageType.GETROUTE, flags: 0, data: [routeLookupPayload(dst)], query: true });
  const gateway = reply ? gatewayOfRouteMessage(reply.type, reply.data) : undefined;
  if (gateway === undefined) throw new NetlinkError('EUNKNOWN', operation, 'the kernel returned no IPv4 route');
  return gateway;
}
