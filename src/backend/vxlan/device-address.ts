// The address both vxlan datapaths give flannel.<VNI>: `<own subnet network>/32` as the only address inside
// Network (older ones of an earlier lease removed), and the link up.
import type { Logger } from '../../log.js';
import { formatIPv4, netContainsIP, type Ipv4Net } from '../../net/ipv4.js';
import { deleteAddressIfPresent, ensureAddress, listAddresses } from '../../netlink/addresses.js';
import { setLinkUp } from '../../netlink/links.js';

export async function addressFlannelDevice(index: number, own: Ipv4Net, network: Ipv4Net, log: Logger): Promise<void> {
  const want = { ip: own.ip, prefixLen: 32 };
  for (const a of await listAddresses(index)) {
    if (netContainsIP(network, a.ip) && !(a.ip === want.ip && a.prefixLen === 32)) {
      log.info({ address: `${formatIPv4(a.ip)}/${a.prefixLen}` }, 'removing an old address from the flannel device');
      await deleteAddressIfPresent(index, a);
    }
  }
  await ensureAddress(index, want);
  await setLinkUp(index);
}

/** True when the device still has its address and is up (what a resync checks). */
export async function flannelDeviceAddressed(index: number, own: Ipv4Net, up: boolean): Promise<boolean> {
  return up && (await listAddresses(index)).some((a) => a.ip === own.ip && a.prefixLen === 32);
}
