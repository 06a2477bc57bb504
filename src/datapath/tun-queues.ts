// Opening a TUN's queues, shared by the IPv4 datapath (userspace-datapath.ts) and its IPv6 half
// (userspace-datapath6.ts): one fd per queue, multi-queue when more than one, with the offloads set on the first.
import type { Logger } from '../log.js';
import type { TunIo } from './native.js';

const EINVAL = 22;

/**
 * Opens `queues` queues of the TUN `name` (IFF_VNET_HDR). A persistent device left by an earlier run keeps the queue
 * mode it was made with (the kernel refuses the other with EINVAL): a single-queue one is then served by one fd, a
 * multi-queue one with the queues asked for. `offloads` (TUNSETOFFLOAD flags) 0: none set.
 */
export function openTunQueues(tun: TunIo, name: string, queues: number, persist: boolean, offloads: number,
  log: Logger): number[] {
  const open = (multiQueue: boolean): number => tun.tunOpen(name, { vnetHdr: true, multiQueue, persist }).fd;
  const fds: number[] = [];
  try {
    let multiQueue = queues > 1;
    try {
      fds.push(open(multiQueue));
    } catch (err) {
      if ((err as { errno?: number }).errno !== EINVAL) throw err;
      multiQueue = !multiQueue;
      fds.push(open(multiQueue));
      const mode = multiQueue ? 'several queues' : 'one queue';
      log.warn({ multiQueue }, `TUN ${name} exists with ${mode} from an earlier run; keeping it`);
    }
    while (multiQueue && fds.length < queues) fds.push(open(true));
    if (offloads !== 0) tun.tunSetOffload(fds[0]!, offloads);
  } catch (err) {
    for (const fd of fds) tun.closeFd(fd);
    throw err;
  }
  return fds;
}
