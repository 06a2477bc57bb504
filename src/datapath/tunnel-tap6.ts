// Set-up of the tunnel-GSO send path for the IPv6 half (tunnel-tap.ts is the IPv4 one): a TAP of its own, whose
// frames carry an outer IPv6 header. The kernel must route them to the underlay as if received on the TAP, so the
// TAP needs IPv6 on (a device with IPv6 disabled drops every IPv6 frame it receives) and forwarding for frames it
// receives: force_forwarding on the TAP alone (Linux ≥ 6.17), or net.ipv6.conf.all.forwarding=1 where the host
// has it anyway. IPv6 has no reverse-path filter or accept_local to relax. The outer UDP checksum is the kernel's
// to fill in (TUN_F_UDP_TUNNEL_GSO_CSUM): zero is not a valid UDP checksum over IPv6, and the kernel's flannel-v6
// device drops such datagrams. The frames cross ip6tables' FORWARD chain: an ACCEPT rule for frames coming in on the
// TAP goes first in it, as for IPv4. Any failure is returned as the reason to fall back.
import * as fs from 'node:fs';
import { acceptForwarded, closeTunnelTap, openTapQueues, readSysctl, type TunnelTap } from './tunnel-tap.js';
import {
  TUN_F_CSUM, TUN_F_TSO6, TUN_F_TSO_ECN, TUN_F_UDP_TUNNEL_GSO, TUN_F_UDP_TUNNEL_GSO_CSUM,
} from './virtio-hdr.js';

/** The TAP of the IPv6 half's tunnel-GSO path for TUN `tunName` (flannel-v6.<VNI>): `gso6.<VNI>`. */
export function tunnelTap6Name(tunName: string): string {
  const dot = tunName.lastIndexOf('.');
  return `gso6${dot >= 0 ? tunName.slice(dot) : `-${tunName}`}`.slice(0, 15);
}

/**
 * Opens `queues` queues of the IPv6 TAP `name` with the tunnel virtio header, UDP-tunnel GSO and its outer
 * checksum, brings it up and sets its sysctls. Returns the TAP, or the reason the path cannot run (fds closed then).
 */
export function openTunnelTap6(name: string, queues: number, procSys = '/proc/sys/net'): TunnelTap | string {
  return openTapQueues(name, queues, {
    offload: TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UDP_TUNNEL_GSO | TUN_F_UDP_TUNNEL_GSO_CSUM, hostAddress: 0,
    refused: 'a TAP with UDP-tunnel GSO and its checksum',
    configure: () => {
      const conf = `${procSys}/ipv6/conf/${name}`;
      if (!fs.existsSync(conf)) throw new Error('IPv6 is disabled in this kernel or namespace');
      // Nobody reads what the host would send into the TAP: no router solicitations, no autoconfiguration from it.
      for (const [key, value] of [['disable_ipv6', '0'], ['accept_ra', '0'], ['router_solicitations', '0']] as const) {
        fs.writeFileSync(`${conf}/${key}`, value);
      }
      if (fs.existsSync(`${conf}/force_forwarding`)) {
        fs.writeFileSync(`${conf}/force_forwarding`, '1');
      } else if (readSysctl(procSys, 'ipv6/conf/all/forwarding') !== '1') {
        throw new Error('net.ipv6.conf.all.forwarding is 0 and this kernel has no per-device force_forwarding '
          + '(Linux 6.17): set net.ipv6.conf.all.forwarding=1 to use the tunnel-gso send path for IPv6');
      }
      return acceptForwarded(name, 'ip6tables');
    },
  });
}

/** Closes the IPv6 TAP's queues and removes its ip6tables FORWARD rule, unless `keepRule` (a reload's next owner). */
export function closeTunnelTap6(tap: TunnelTap, opts: { keepRule?: boolean } = {}): void {
  closeTunnelTap(tap, opts, 'ip6tables');
}
