// What both userspace backends (udp, vxlan on the userspace datapath) do with their TUN around the datapath that
// opens it: the local address the loops send from, the link as opened (at the backend's MTU), its address and one
// route, its removal. The datapath owns the fd; these steps only look the device up by name and configure it.
import type { Logger } from '../../log.js';
import { parseIPv4, type Ipv4Net } from '../../net/ipv4.js';
import { deleteLinkIfPresent, getLinkByName, setLinkMtu, type LinkInfo } from '../../netlink/links.js';
import { replaceRoute } from '../../netlink/routes.js';
import { addressFlannelDevice } from '../vxlan/device-address.js';
import type { BackendContext } from '../backend.js';
import type { KeptDevice } from './keeper.js';

const REOPEN_BACKOFF_MIN_MS = 200;
const REOPEN_BACKOFF_MAX_MS = 30_000;

/** The external interface's IPv4 address, which the loops send from; a clear error when it has none. */
export function loopLocalIP(ext: BackendContext['extIface']): number {
  const ip = parseIPv4(ext.ifaceAddr);
  if (ip === null) {
    throw new Error(`external interface ${ext.name} has address ${JSON.stringify(ext.ifaceAddr)}, not IPv4`);
  }
  return ip >>> 0;
}

/** The TUN the datapath has just opened (`how`: created, reopened), set to `mtu`. */
export async function openedTunLink(name: string, mtu: number, how: 'created' | 'reopened'): Promise<LinkInfo> {
  const link = await getLinkByName(name);
  if (!link) throw new Error(`TUN device ${name} vanished right after it was ${how}`);
  if (link.mtu !== mtu) await setLinkMtu(link.index, mtu);
  return link;
}

/** `<own subnet network>/32` as the only address inside Network, up, and the one route `<Network> dev <tun>`. */
export async function addressTun(index: number, own: Ipv4Net, network: Ipv4Net, scope: number,
  log: Logger): Promise<void> {
  await addressFlannelDevice(index, own, network, log);
  await replaceRoute({ dst: network, oif: index, scope });
}

/** Deletes the TUN by name (its address and route go with it). */
export async function removeTun(name: string, log: Logger): Promise<void> {
  const link = await getLinkByName(name);
  if (link) await deleteLinkIfPresent(link.index);
  log.info('TUN device removed: backend torn down');
}

/** The datapath and device of a registered backend; `backend` names it in the error for a misuse. */
export function requireOpened<D>(datapath: D | null, device: LinkInfo | null,
  backend: string): { datapath: D; device: LinkInfo } {
  if (!datapath || !device) throw new Error(`${backend} backend used before register()`);
  return { datapath, device };
}

/** How the keeper watches a userspace backend's TUN: deleted by hand, it is reopened with backoff. */
export function keptTun(name: string, index: () => number | null, reopen: () => Promise<void>): KeptDevice {
  return {
    name, index, recreate: reopen, backoffMinMs: REOPEN_BACKOFF_MIN_MS, backoffMaxMs: REOPEN_BACKOFF_MAX_MS,
    lostMessage: `TUN device ${name} was deleted; reopening it`,
  };
}
