// systemd's file-descriptor store (sd_pid_notify_with_fds FDSTORE=1): the datapath's TUN queues and sockets are
// stored under names, so that after `systemctl restart` or a crash systemd hands them to the new process
// (LISTEN_FDS). Meanwhile systemd holds them: the TUN keeps its carrier, so its route is never `linkdown`, and what
// arrives queues in the kernel for the next process. Needs FileDescriptorStoreMax= in the unit; without
// NOTIFY_SOCKET nothing is sent.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log.js';
import { sdNotify } from '../ops/sd-notify.js';
import { type DatapathFds, type FdRole, fdStoreName, type LoopSnapshot } from './handover.js';
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
  const names = [...named(device, fds).map((n) => n.name), fdStoreName(device, 'state', 0)];
  for (const name of names) sdNotify(`FDSTOREREMOVE=1\nFDNAME=${name}`, socketPath);
}

/** How long peer changes are gathered before the snapshot is rewritten (a re-list brings hundreds at once). */
const SNAPSHOT_DELAY_MS = 200;

/**
 * The loops' peers and settings in an unlinked file whose fd is in the fd store (`<device>-state-0`): a process
 * started with the stored queues reads it and forwards before it has asked etcd anything. Only under systemd
 * (NOTIFY_SOCKET); rewritten a moment after each change.
 */
export class LoopSnapshotFile {
  private fd: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly socketPath = process.env.NOTIFY_SOCKET ?? '';

  constructor(private readonly device: string, private readonly dir: string, private readonly read: () => LoopSnapshot | null,
    private readonly log: Logger) {}

  /** A change happened: the snapshot is rewritten soon. */
  changed(): void {
    if (this.socketPath === '' || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, SNAPSHOT_DELAY_MS);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private write(): void {
    const snap = this.read();
    if (snap === null) return;
    try {
      if (this.fd === null) {
        fs.mkdirSync(this.dir, { recursive: true });
        const file = path.join(this.dir, `.${this.device}-loops-${crypto.randomBytes(6).toString('hex')}`);
        const fd = fs.openSync(file, 'w+', 0o600);
        fs.unlinkSync(file);
        this.fd = fd;
        const name = fdStoreName(this.device, 'state', 0);
        sdNotify(`FDSTOREREMOVE=1\nFDNAME=${name}`, this.socketPath);
        reloadNative().sdNotifyFds(`FDSTORE=1\nFDNAME=${name}`, [fd], this.socketPath);
      }
      const text = Buffer.from(JSON.stringify(snap));
      fs.ftruncateSync(this.fd, 0);
      fs.writeSync(this.fd, text, 0, text.length, 0);
    } catch (err) {
      this.log.warn(`keeping the loop snapshot of ${this.device} in the fd store failed: ${(err as Error).message}; `
        + 'after a crash the loops wait for the peers from etcd');
    }
  }
}
