// IPv4 interface addresses: list, ensure (add or keep), delete if present.
import { FlagsNew, rt } from 'netlink';
import { formatIPv4, ipFromBuffer, ipToBuffer } from '../net/ipv4.js';
import { AF_INET } from './codec.js';
import { isAbsentError } from './errors.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

/** An address on an interface: `ip` is the host address (uint32), not masked. */
export interface IfAddr {
  readonly ip: number;
  readonly prefixLen: number;
}

export interface AddressInfo extends IfAddr {
  readonly index: number;
  readonly scope: number;
  readonly label: string | null;
}

function describe(a: IfAddr): string {
  return `${formatIPv4(a.ip)}/${a.prefixLen}`;
}

function fromMessage(m: rt.AddressMessage): AddressInfo | null {
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
  const buf = m.attrs.local ?? m.attrs.address;
  if (m.data.family !== AF_INET || !buf || buf.length !== 4) return null;
  return {
    ip: ipFromBuffer(buf),
    prefixLen: m.data.prefixlen ?? 0,
    index: m.data.index ?? 0,
    scope: m.data.scope ?? 0,
    label: m.attrs.label ?? null,
  };
}

/** IPv4 addresses, in the kernel's order (primary before secondary); all links unless `index` is given. */
export async function listAddresses(index?: number, s: RtSocket = sharedRtSocket()): Promise<AddressInfo[]> {
  const messages = await s.dump('list addresses', (nl, o) => nl.getAddresses({ family: AF_INET }, {}, o));
  return messages.flatMap((m) => {
    const a = fromMessage(m);
    return a && (index === undefined || a.index === index) ? [a] : [];
  });
}

/** Adds the address unless the link already has it with that prefix length. */
export async function ensureAddress(index: number, addr: IfAddr, s: RtSocket = sharedRtSocket()): Promise<void> {
  const ip = ipToBuffer(addr.ip);
  await s.request(`ensure address ${describe(addr)} on link #${index}`, (nl, o) =>
    nl.newAddress({ family: AF_INET, prefixlen: addr.prefixLen, index }, { local: ip, address: ip },
      { ...o, flags: FlagsNew.CREATE | FlagsNew.REPLACE }));
}

/** Removes the address; false when the link did not have it. */
export async function deleteAddressIfPresent(index: number, addr: IfAddr, s: RtSocket = sharedRtSocket()): Promise<boolean> {
  const ip = ipToBuffer(addr.ip);
  try {
    await s.request(`delete address ${describe(addr)} from link #${index}`, (nl, o) =>
      nl.delAddress({ family: AF_INET, prefixlen: addr.prefixLen, index }, { local: ip, address: ip }, o));
    return true;
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
}
