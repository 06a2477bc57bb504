// Links: look up by name or index, list, set up / MTU / MAC, delete if present.
import { ifla, rt } from 'netlink';
import { macFromBuf, macToBuf } from './codec.js';
import { isAbsentError } from './errors.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  readonly mtu: number;
  /** Administratively up (IFF_UP). */
  readonly up: boolean;
  /** Lower-case MAC, null for links without one (tun, lo has 00:…). */
  readonly mac: string | null;
  /** IFLA_INFO_KIND: `vxlan`, `veth`, `bridge`, `tun`, …; null for plain devices. */
  readonly kind: string | null;
  /** The parsed message, for callers that need more (e.g. vxlan attributes via ifla.parseVxlan). */
  readonly message: rt.LinkMessage;
}

export function linkInfoFromMessage(message: rt.LinkMessage): LinkInfo {
  const { data, attrs } = message;
  let kind: string | null = null;
  if (attrs.linkinfo) {
    try {
      kind = ifla.parseInfo(attrs.linkinfo).kind ?? null;
    } catch {
      kind = null;
    }
  }
  return {
    index: data.index ?? 0,
    name: attrs.ifname ?? '',
    mtu: attrs.mtu ?? 0,
    up: data.flags?.up === true,
    mac: macFromBuf(attrs.address),
    kind,
    message,
  };
}

/** null when there is no such link. */
export async function getLinkByName(name: string, s: RtSocket = sharedRtSocket()): Promise<LinkInfo | null> {
  return getOne(`get link ${name}`, s, (nl, o) => nl.getLink({}, { ifname: name }, o));
}

/** null when there is no such link. */
export async function getLinkByIndex(index: number, s: RtSocket = sharedRtSocket()): Promise<LinkInfo | null> {
  return getOne(`get link #${index}`, s, (nl, o) => nl.getLink({ index }, {}, o));
}

async function getOne(
  operation: string,
  s: RtSocket,
  call: Parameters<RtSocket['request']>[1],
): Promise<LinkInfo | null> {
  try {
    const [message] = (await s.request(operation, call)) as rt.LinkMessage[];
    return message ? linkInfoFromMessage(message) : null;
  } catch (err) {
    if (isAbsentError(err)) return null;
    throw err;
  }
}

export async function listLinks(s: RtSocket = sharedRtSocket()): Promise<LinkInfo[]> {
  const messages = await s.dump('list links', (nl, o) => nl.getLinks({}, {}, o));
  return messages.map(linkInfoFromMessage);
}

export async function setLinkUp(index: number, s: RtSocket = sharedRtSocket()): Promise<void> {
  await s.request(`set link #${index} up`, (nl, o) => nl.setLink({ index, change: { up: true }, flags: { up: true } }, {}, o));
}

export async function setLinkDown(index: number, s: RtSocket = sharedRtSocket()): Promise<void> {
  await s.request(`set link #${index} down`, (nl, o) => nl.setLink({ index, change: { up: true }, flags: {} }, {}, o));
}

export async function setLinkMtu(index: number, mtu: number, s: RtSocket = sharedRtSocket()): Promise<void> {
  await s.request(`set link #${index} mtu ${mtu}`, (nl, o) => nl.setLink({ index }, { mtu }, o));
}

export async function setLinkMac(index: number, mac: string, s: RtSocket = sharedRtSocket()): Promise<void> {
  const address = macToBuf(mac);
  await s.request(`set link #${index} address ${mac}`, (nl, o) => nl.setLink({ index }, { address }, o));
}

/** Deletes the link; false when it was already gone. */
export async function deleteLinkIfPresent(index: number, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  try {
    await s.request(`delete link #${index}`, (nl, o) => nl.delLink({ index }, {}, o));
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}

