// Tells when anything in nf_tables changes. The kernel announces every committed nf_tables batch (whether written by
// nft, by iptables-nft, or by kube-proxy) to the NFNLGRP_NFTABLES group of NETLINK_NETFILTER, in the namespace where it
// happened. The messages are not decoded: a change is a reason to look at our rules, not a description of them.
// iptables-legacy writes through setsockopt and announces nothing; callers find out which one is installed.
import { createNetlink, type NetlinkSocket } from 'netlink';

const NETLINK_NETFILTER = 12;
const NFNLGRP_NFTABLES = 7;

export interface NetfilterWatchHandlers {
  /** Some nf_tables object was added, changed or deleted (a burst of them calls this once per kernel message batch). */
  changed(): void;
  /** The socket failed (e.g. overflowed under a flood of changes): changes may have been missed, and no more come. */
  lost(reason: string): void;
}

export interface NetfilterWatch {
  close(): void;
}

/** Subscribes to nf_tables changes; throws when the socket cannot be made or joined (no CAP_NET_ADMIN, old kernel). */
export function watchNetfilter(h: NetfilterWatchHandlers): NetfilterWatch {
  // Does not keep the event loop alive; the rx buffer holds the notifications of a large ruleset rewrite.
  const sock: NetlinkSocket = createNetlink(NETLINK_NETFILTER, { ref: false, recvBufferSize: 1 << 20, sendBufferSize: 4096 });
  try {
    sock.addMembership(NFNLGRP_NFTABLES);
  } catch (err) {
    sock.close();
    throw err;
  }
  let open = true;
  const end = (): void => {
    open = false;
    try {
      sock.close();
    } catch {
      // Already closed by the native side.
    }
  };
  const report = (fn: () => void): void => {
    // A handler's bug must not unwind into the native callback, which would end the process.
    try {
      fn();
    } catch { /* the handlers log their own failures */ }
  };
  sock.on('message', () => {
    if (open) report(() => h.changed());
  });
  const fail = (reason: string): void => {
    if (!open) return;
    end();
    report(() => h.lost(reason));
  };
  sock.on('error', (err: Error & { code?: string }) => fail(`${err.code ?? ''} ${err.message}`.trim()));
  sock.on('close', () => fail('socket closed'));
  return { close: () => { if (open) end(); } };
}
