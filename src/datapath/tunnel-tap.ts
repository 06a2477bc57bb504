// Set-up of the tunnel-GSO send path (send-path.ts): the TAP, its queues and the sysctls the kernel needs to route
// the frames written into it. A frame enters the stack as if received on the TAP, with our own underlay address as
// source, and is forwarded to the underlay: so the TAP needs forwarding on (this device only; ip_forward stays as
// the host has it), accept_local (the source is local) and no reverse-path filter. IPv6 is turned off on it (no
// router solicitations into a device nobody reads). Any failure is returned as the reason to fall back.
import * as fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN, TUN_F_UDP_TUNNEL_GSO, VNET_TUNNEL_HDR_LEN } from './virtio-hdr.js';

interface TapIo {
  tapOpen(name: string, opts: { vnetHdrSize: number; offload: number; multiQueue: boolean; persist: boolean;
    up: boolean }): { fd: number; name: string; mac: number[] };
  closeFd(fd: number): void;
}

export interface TunnelTap {
  readonly name: string;
  /** One fd per queue. */
  readonly fds: number[];
  readonly mac: number[];
}

const EINVAL = 22;
const SYSCTLS: ReadonlyArray<readonly [string, string]> = [
  ['ipv4/conf/%/forwarding', '1'], ['ipv4/conf/%/accept_local', '1'], ['ipv4/conf/%/rp_filter', '0'],
];

/**
 * Opens `queues` queues of the TAP `name` with the tunnel virtio header and UDP-tunnel GSO, brings it up and sets
 * its sysctls. Returns the TAP, or the reason the path cannot run (the fds are closed then).
 */
export function openTunnelTap(name: string, queues: number, procSys = '/proc/sys/net'): TunnelTap | string {
  const io = loadAddon() as TapIo;
  if (typeof io.tapOpen !== 'function') return 'the native addon has no tapOpen (rebuild it)';
  const fds: number[] = [];
  let mac: number[] = [];
  try {
    for (let q = 0; q < queues; q++) {
      const t = io.tapOpen(name, { vnetHdrSize: VNET_TUNNEL_HDR_LEN, multiQueue: queues > 1, persist: false, up: q === 0,
        offload: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN | TUN_F_UDP_TUNNEL_GSO });
      fds.push(t.fd);
      if (q === 0) mac = t.mac;
    }
    const strict = readSysctl(procSys, 'ipv4/conf/all/rp_filter') === '1';
    if (strict) throw new Error('net.ipv4.conf.all.rp_filter=1 (strict) would drop the frames the TAP routes');
    for (const [key, value] of SYSCTLS) fs.writeFileSync(`${procSys}/${key.replace('%', name)}`, value);
    try {
      fs.writeFileSync(`${procSys}/ipv6/conf/${name}/disable_ipv6`, '1');
    } catch {
      // No IPv6 in this kernel or namespace: nothing to turn off.
    }
  } catch (err) {
    for (const fd of fds) io.closeFd(fd);
    const e = err as { errno?: number; message?: string };
    return e.errno === EINVAL
      ? `the kernel refused a TAP with UDP-tunnel GSO (${e.message ?? 'EINVAL'}; needs Linux 6.17 or later)`
      : (e.message ?? String(err));
  }
  return { name, fds, mac };
}

function readSysctl(procSys: string, key: string): string | null {
  try {
    return fs.readFileSync(`${procSys}/${key}`, 'utf8').trim();
  } catch {
    return null;
  }
}
