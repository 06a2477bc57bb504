// The reload's face of the native addon (native/src/reload.cc). Syscall-shaped; the policy is in this directory.
import { loadAddon } from '../native/addon.js';

export type FdDescription =
  | { readonly kind: 'tun'; readonly name: string; readonly multiQueue: boolean; readonly vnetHdr: boolean }
  | { readonly kind: 'udp'; readonly port: number; readonly family: 4 | 6 }
  | { readonly kind: 'other' };

export interface ReloadNative {
  fdSetCloexec(fd: number, on: boolean): void;
  /** Replaces the process image; returns only by throwing. */
  execve(path: string, argv: readonly string[], env: readonly string[]): never;
  /** One datagram to a unix socket (`@name` = abstract) with the fds attached; throws on failure. */
  sdNotifyFds(state: string, fds: readonly number[], socketPath: string): boolean;
  /** Throws (errno EBADF) for a closed fd. */
  fdDescribe(fd: number): FdDescription;
}

export const reloadNative = (): ReloadNative => loadAddon() as ReloadNative;
