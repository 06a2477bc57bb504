// The datapath's send path and the tunnel-GSO TAP it needs: chosen once at construction, given up for the segment
// path when the TAP is deleted under the loops, handed over (closed, rule kept) on a reload, closed at the end.
import * as fs from 'node:fs';
import type { Logger } from '../log.js';
import type { DatapathOptions } from './datapath-options.js';
import { selectSendPath, tunnelTapName, type SendPath } from './send-path.js';
import { closeTunnelTap, openTunnelTap, type TunnelTap } from './tunnel-tap.js';

export type SendPathSettings = Pick<DatapathOptions, 'tunName' | 'offloads' | 'localIP' | 'framing' | 'sendPath'>;

/** How one address family's TAP is made, named, found and closed (the IPv6 half has its own: tunnel-tap6.ts). */
export interface TapKit {
  name(tunName: string): string;
  open(name: string, queues: number): TunnelTap | string;
  close(tap: TunnelTap, opts?: { keepRule?: boolean }): void;
  /** The /proc/sys/net/<family>/conf directory whose entry for the TAP says it still exists. */
  readonly confDir: string;
}

const IPV4_TAP: TapKit = {
  name: tunnelTapName, open: (name, queues) => openTunnelTap(name, queues), close: closeTunnelTap,
  confDir: '/proc/sys/net/ipv4/conf',
};

export class SendPathTap {
  private current: TunnelTap | null = null;
  private closed = false;

  constructor(private readonly log: Logger, private readonly kit: TapKit = IPV4_TAP) {}

  /** The TAP the loops write whole VXLAN frames to, null on the segment path. */
  get tap(): TunnelTap | null {
    return this.current;
  }

  /** The send path the loops run (segment from the moment the TAP is lost or released). */
  get path(): SendPath {
    return this.current === null ? 'segment' : 'tunnel-gso';
  }

  /**
   * Sets up the tunnel-GSO TAP (one queue per TUN queue) where it may and can run; logs the path the loops will
   * take.
   */
  choose(o: SendPathSettings, queues: number): void {
    // The tunnel path hands the kernel VXLAN frames; flannel's udp framing has no tunnel header to segment by.
    const choice = o.framing === 'udp' ? 'segment' : o.sendPath ?? 'auto';
    const decision = selectSendPath(choice, () => {
      if (o.offloads === false) return 'offloads are off';
      if (o.localIP === 0) return 'no local underlay address to send from';
      const tap = this.kit.open(this.kit.name(o.tunName), queues);
      if (typeof tap === 'string') return tap;
      this.current = tap;
      return null;
    });
    if (decision.path === 'tunnel-gso') {
      this.log.info({ sendPath: 'tunnel-gso', tap: this.current?.name },
        `datapath send path: tunnel-gso (the kernel segments whole VXLAN frames written to TAP ${this.current?.name})`);
    } else if (decision.fallbackReason !== null) {
      this.log.info({ sendPath: 'segment', reason: decision.fallbackReason },
        `datapath send path: segment (tunnel-gso unavailable: ${decision.fallbackReason})`);
    } else {
      this.log.info({ sendPath: 'segment' }, 'datapath send path: segment (as configured)');
    }
  }

  /**
   * Before a loop (re)starts: a TAP deleted under the loops (their writes fail; see loop-worker.ts) is given up
   * for the segment path, which needs nothing from it.
   */
  check(): void {
    const tap = this.current;
    if (tap === null || this.closed || fs.existsSync(`${this.kit.confDir}/${tap.name}`)) return;
    this.log.warn({ sendPath: 'segment', tap: tap.name },
      `datapath send path: segment from now on (TAP ${tap.name} was deleted)`);
    this.kit.close(tap);
    this.current = null;
  }

  /**
   * Closes the TAP of paused loops whose fds another datapath takes over (it opens the TAP again); the FORWARD rule
   * stays for that one. The loops left here then run the segment path.
   */
  release(): void {
    if (this.current !== null && !this.closed) this.kit.close(this.current, { keepRule: true });
    this.current = null;
  }

  /** Closes the TAP at the datapath's stop; it stays recorded, so counters read afterwards still say which path ran. */
  close(): void {
    if (this.current !== null && !this.closed) this.kit.close(this.current);
    this.closed = true;
  }
}
