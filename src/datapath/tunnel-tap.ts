// Set-up of the tunnel-GSO send path (send-path.ts): the TAP, its queues and the sysctls the kernel needs to route
// the frames written into it. A frame enters the stack as if received on the TAP, with our own underlay address as
// source, and is forwarded to the underlay: so the TAP needs forwarding on (this device only; ip_forward stays as
// the host has it), accept_local (the source is local), no reverse-path filter of its own, and an address (see
// TAP_HOST_ADDRESS; where the host filters strictly on all devices, the path is not used). IPv6 is turned off on it (no
// router solicitations into a device nobody reads). The frames also cross the FORWARD chain, which on many hosts
// drops by default (Docker sets that policy) and whose flannel rules match only the pod Network, not the outer
// addresses: an ACCEPT rule for frames coming in on the TAP goes first in it (iptables; none needed where iptables is
// not installed). Any failure is returned as the reason to fall back.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { loadAddon } from '../native/addon.js';
import { TUNNEL_GSO_RULE_COMMENT } from './send-path.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN, TUN_F_UDP_TUNNEL_GSO, VNET_TUNNEL_HDR_LEN } from './virtio-hdr.js';

export interface TapIo {
  tapOpen(name: string, opts: { vnetHdrSize: number; offload: number; multiQueue: boolean; persist: boolean;
    up: boolean; hostAddress: number }): { fd: number; name: string; mac: number[] };
  closeFd(fd: number): void;
}

export interface TunnelTap {
  readonly name: string;
  /** One fd per queue. */
  readonly fds: number[];
  readonly mac: number[];
  /**
   * True when the FORWARD rule is in place (closeTunnelTap removes it). Inserted only when missing: a rule left by a
   * previous process (a reload re-execs without stopping; a crash never stops) is taken over, not duplicated, and
   * removed once, at the final stop.
   */
  readonly forwardRule: boolean;
}

export const EINVAL = 22;
/**
 * 169.254.253.1/32, host scope, on the TAP: a device without any address fails even loose reverse-path filtering
 * for a frame from a local source. Link-local and a /32, so no route comes with it and nothing else is shadowed.
 */
export const TAP_HOST_ADDRESS = 0xa9fefd01;
const SYSCTLS: ReadonlyArray<readonly [string, string]> = [
  ['ipv4/conf/%/forwarding', '1'], ['ipv4/conf/%/accept_local', '1'], ['ipv4/conf/%/rp_filter', '0'],
];

/** How one family's TAP is opened: its offloads and address, and what it needs beside them. */
export interface TapRecipe {
  readonly offload: number;
  /** The first queue's IPv4 host address (0: none). */
  readonly hostAddress: number;
  /** What the kernel refused when it answers EINVAL, for the message. */
  readonly refused: string;
  /** Sysctls and the FORWARD rule, once the device exists; returns whether the rule is in place. Throws a reason. */
  readonly configure: (name: string) => boolean;
}

/**
 * Opens `queues` queues of the TAP `name` with the tunnel virtio header, brings it up and configures it. Returns
 * the TAP, or the reason the path cannot run (the fds are closed then).
 */
export function openTapQueues(name: string, queues: number, recipe: TapRecipe): TunnelTap | string {
  const io = loadAddon() as TapIo;
  if (typeof io.tapOpen !== 'function') return 'the native addon has no tapOpen (rebuild it)';
  const fds: number[] = [];
  let mac: number[] = [];
  let forwardRule = false;
  try {
    for (let q = 0; q < queues; q++) {
      const t = io.tapOpen(name, { vnetHdrSize: VNET_TUNNEL_HDR_LEN, multiQueue: queues > 1, persist: false, up: q === 0,
        offload: recipe.offload, hostAddress: q === 0 ? recipe.hostAddress : 0 });
      fds.push(t.fd);
      if (q === 0) mac = t.mac;
    }
    forwardRule = recipe.configure(name);
  } catch (err) {
    for (const fd of fds) io.closeFd(fd);
    const e = err as { errno?: number; message?: string };
    return e.errno === EINVAL
      ? `the kernel refused ${recipe.refused} (${e.message ?? 'EINVAL'}; needs Linux 6.17 or later)`
      : (e.message ?? String(err));
  }
  return { name, fds, mac, forwardRule };
}

/**
 * Opens `queues` queues of the TAP `name` with the tunnel virtio header and UDP-tunnel GSO, brings it up and sets
 * its sysctls. Returns the TAP, or the reason the path cannot run (the fds are closed then).
 */
export function openTunnelTap(name: string, queues: number, procSys = '/proc/sys/net'): TunnelTap | string {
  return openTapQueues(name, queues, {
    offload: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN | TUN_F_UDP_TUNNEL_GSO, hostAddress: TAP_HOST_ADDRESS,
    refused: 'a TAP with UDP-tunnel GSO',
    configure: () => {
      // The kernel filters with the larger of `all` and the device's value. Loose filtering (2, Ubuntu's default)
      // passes the frames only because the TAP has an address (TAP_HOST_ADDRESS); strict (1, RHEL's) drops them all.
      const rpFilter = readSysctl(procSys, 'ipv4/conf/all/rp_filter') ?? '0';
      if (rpFilter === '1') {
        throw new Error('net.ipv4.conf.all.rp_filter=1 (strict reverse-path filtering) would drop the frames the TAP '
          + 'routes; set it to 0 or 2 to use the tunnel-gso send path');
      }
      for (const [key, value] of SYSCTLS) fs.writeFileSync(`${procSys}/${key.replace('%', name)}`, value);
      const forwardRule = acceptForwarded(name);
      try {
        fs.writeFileSync(`${procSys}/ipv6/conf/${name}/disable_ipv6`, '1');
      } catch {
        // No IPv6 in this kernel or namespace: nothing to turn off.
      }
      return forwardRule;
    },
  });
}

/**
 * Closes the TAP's queues (the device goes with the last) and removes its FORWARD rule (ip6tables' for the IPv6
 * half's TAP), unless `keepRule` (another datapath opens the same TAP next).
 */
export function closeTunnelTap(tap: TunnelTap, opts: { keepRule?: boolean } = {}, tool: FirewallTool = 'iptables'): void {
  const io = loadAddon() as TapIo;
  for (const fd of tap.fds) io.closeFd(fd);
  if (tap.forwardRule && opts.keepRule !== true) removeForwardRule(tap.name, tool);
}

/** Removes the FORWARD rule of TAP `name` (ip6tables for the IPv6 half's TAP). */
export function removeForwardRule(name: string, tool: FirewallTool = 'iptables'): void {
  iptables(['-D', ...forwardRule(name)], tool);
}

export type FirewallTool = 'iptables' | 'ip6tables';

function forwardRule(name: string): string[] {
  return ['FORWARD', '-i', name, '-m', 'comment', '--comment', TUNNEL_GSO_RULE_COMMENT, '-j', 'ACCEPT'];
}

/**
 * Puts the ACCEPT rule for frames from the TAP first in FORWARD, unless it is there; true when the rule is in place
 * (false: no iptables). Throws a one-line error when iptables exists but refuses.
 */
export function acceptForwarded(name: string, tool: FirewallTool = 'iptables'): boolean {
  const check = iptables(['-C', ...forwardRule(name)], tool);
  if (check === 'missing-tool') return false;
  if (check === 'ok') return true;
  const insert = iptables(['-I', 'FORWARD', '1', ...forwardRule(name).slice(1)], tool);
  if (insert === 'ok') return true;
  throw new Error(`could not let the TAP's frames through the FORWARD chain (${tool}: ${insert})`);
}

/** Runs iptables or ip6tables (waiting for its lock); 'ok', 'missing-tool', or its error output's first line. */
function iptables(args: readonly string[], tool: FirewallTool = 'iptables'): string {
  try {
    execFileSync(tool, ['-w', '5', ...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    return 'ok';
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === 'ENOENT') return 'missing-tool';
    return (e.stderr?.toString().split('\n')[0] ?? '').trim() || 'failed';
  }
}

export function readSysctl(procSys: string, key: string): string | null {
  try {
    return fs.readFileSync(`${procSys}/${key}`, 'utf8').trim();
  } catch {
    return null;
  }
}
