// systemd's file-descriptor store (sd_pid_notify_with_fds FDSTORE=1): the datapath's TUN queues and sockets are
// stored under names, so that after `systemctl restart` or a crash systemd hands them to the new process
// (LISTEN_FDS). Meanwhile systemd holds them: the TUN keeps its carrier, so its route is never `linkdown`, and what
// arrives queues in the kernel for the next process. Needs FileDescriptorStoreMax= in the unit; without
// NOTIFY_SOCKET nothing is sent.
import type { Logger } from '../log.js';
import { sdNotify } from '../ops/sd-notify.js';
import { type DatapathFds, type FdRole, fdStoreName } from './handover.js';
import { reloadNative } from './reload-native.js';

function named(device: string, fds: DatapathFds): { name: string; fd: number }[] {
  const roles: [FdRole, readonly number[]][] = [['tun', fds.tunFds], ['udp', fds.udpFds], ['send', fds.sendFds]];
  return roles.flatMap(([role, list]) => list.map((fd, i) => ({ name: fdStoreName(device, role, i), fd })));
}

/**
 * Replaces the stored fds of `device` with `fds`; true when systemd was told. A failure is logged (the daemon runs
 * on; only a restart would then lose the queues).
 */
export function storeDatapathFds(device: string, fds: DatapathFds, log: Logger, socketPath = process.env.NOTIFY_SOCKET): boolean {
  if (socketPath === undefined || socketPath === '') return false;
  try {
    for (const { name, fd } of named(device, fds)) {
      sdNotify(`FDSTOREREMOVE=1\nFDNAME=${name}`, socketPath);
      reloadNative().sdNotifyFds(`FDSTORE=1\nFDNAME=${name}`, [fd], socketPath);
    }
    return true;
  } catch (err) {
    log.warn(`storing the datapath fds of ${device} in systemd's fd store failed: ${(err as Error).message}; `
      + 'a restart will re-create the queues (set FileDescriptorStoreMax= in the unit)');
    return false;
  }
}

/** Drops the stored fds of `device` (the backend is torn down: nothing is to be adopted). */
export function forgetDatapathFds(device: string, fds: DatapathFds, socketPath = process.env.NOTIFY_SOCKET): void {
  if (socketPath === undefined || socketPath === '') return;
  for (const { name } of named(device, fds)) sdNotify(`FDSTOREREMOVE=1\nFDNAME=${name}`, socketPath);
}
