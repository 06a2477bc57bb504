// Decoding of captured frames for the tunnel-GSO checks: VXLAN frames as the kernel put them on the underlay, the
// packets it queued to the TUN, and the grouping of the former under the latter (the segments one TUN read became).
// The shared shape of the committed fixture (test/fixtures/tunnel-gso-capture.json) lives here too.
import { readFileSync, writeFileSync } from 'node:fs';
import { naiveChecksum, withPartialSeed } from './datapath-packets.js';
import type { CapturedFrame } from './agents/packet-capture.js';
import { inNetns, mustExec } from './netns.js';

/** One VXLAN frame off the wire, split into its layers. */
export interface WireVxlan {
  readonly frame: Uint8Array;
  readonly srcIP: string;
  readonly dstIP: string;
  readonly ipId: number;
  readonly ttl: number;
  readonly df: boolean;
  readonly outerIpChecksumOk: boolean;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly udpLength: number;
  readonly udpChecksum: number;
  readonly vxlanFlags: number;
  readonly vni: number;
  /** The inner Ethernet header (dst, src, type). */
  readonly innerEth: Uint8Array;
  /** The inner IPv4 packet. */
  readonly inner: Uint8Array;
}

const ip4 = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;

/** An Ethernet/IPv4/UDP frame to `port` carrying VXLAN and inner IPv4, or null for anything else. */
export function decodeWireVxlan(frame: Uint8Array, port = 8472): WireVxlan | null {
  if (frame.length < 14 + 20 + 8 + 8 + 14 + 20 || u16(frame, 12) !== 0x0800) return null;
  const ihl = (frame[14]! & 15) * 4;
  if (frame[14]! >> 4 !== 4 || frame[23] !== 17) return null;
  const udp = 14 + ihl;
  if (u16(frame, udp + 2) !== port) return null;
  const vx = udp + 8;
  const innerEth = frame.subarray(vx + 8, vx + 22);
  if (u16(innerEth, 12) !== 0x0800) return null;
  return {
    frame, srcIP: ip4(frame, 26), dstIP: ip4(frame, 30), ipId: u16(frame, 18), ttl: frame[22]!,
    df: (frame[20]! & 0x40) !== 0, outerIpChecksumOk: naiveChecksum(frame.subarray(14, 14 + ihl)) === 0,
    srcPort: u16(frame, udp), dstPort: u16(frame, udp + 2), udpLength: u16(frame, udp + 4),
    udpChecksum: u16(frame, udp + 6), vxlanFlags: frame[vx]!, vni: (frame[vx + 4]! << 16) | (frame[vx + 5]! << 8) | frame[vx + 6]!,
    innerEth, inner: frame.subarray(vx + 22),
  };
}

/** The fields that tie segments to the packet they were cut from: protocol, addresses, ports. */
export function flowKey(p: Uint8Array): string {
  const ihl = (p[0]! & 15) * 4;
  const ports = p[9] === 6 || p[9] === 17 ? `${u16(p, ihl)}>${u16(p, ihl + 2)}` : '';
  return `${p[9]} ${ip4(p, 12)}>${ip4(p, 16)} ${ports}`;
}

export const ipId = (p: Uint8Array): number => u16(p, 4);

/** TCP payload bytes of an IPv4/TCP packet. */
export function tcpPayloadLength(p: Uint8Array): number {
  const ihl = (p[0]! & 15) * 4;
  return u16(p, 2) - ihl - (p[ihl + 12]! >> 4) * 4;
}

/** True when the TCP/UDP checksum field holds the pseudo-header seed: the TUN handed it over as NEEDS_CSUM. */
export function hasPartialSeed(p: Uint8Array): boolean {
  if (p[9] !== 6 && p[9] !== 17) return false;
  const ihl = (p[0]! & 15) * 4;
  const off = ihl + (p[9] === 6 ? 16 : 6);
  return u16(withPartialSeed(p), off) === u16(p, off);
}

/** One packet the TUN gave the loop and the VXLAN frames the kernel sent for it. */
export interface CaptureCase {
  readonly shape: string;
  /** virtio_net_hdr the TUN read carried: [flags, gso_type, hdr_len, gso_size, csum_start, csum_offset]. */
  readonly vnet: [number, number, number, number, number, number];
  readonly tun: string;
  readonly wire: readonly string[];
}

export interface CaptureFixture {
  readonly note: string;
  readonly cases: readonly CaptureCase[];
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/**
 * The underlay of namespace `ns` as a NIC without offloads: the kernel segments tunnel frames and completes every
 * checksum in software before `dev`, so a capture shows what it made of ours (with checksum offload on, a veth
 * carries a partial checksum on to the peer instead, never completed on the sender).
 */
export async function underlayOffloadsOff(ns: string, dev = 'eth0'): Promise<void> {
  await mustExec(inNetns(ns, ['ethtool', '-K', dev, 'tx', 'off', 'tx-udp_tnl-segmentation', 'off',
    'tx-udp_tnl-csum-segmentation', 'off']));
}

/** The frames support/agents/packet-capture.ts wrote to `file`, in arrival order per device. */
export function readCapture(file: string): CapturedFrame[] {
  return (JSON.parse(readFileSync(file, 'utf8')) as { frames: CapturedFrame[] }).frames;
}

/** Writes a capture fixture when the env variable `envName` names a file (how the committed ones are regenerated). */
export function writeCaptureFixture<T extends CaptureFixture>(envName: string, doc: T): void {
  const file = process.env[envName];
  if (file) writeFileSync(file, `${JSON.stringify(doc, null, 1)}\n`);
}

/**
 * Pairs each packet the TUN queued (`tun`, in order) with the wire frames whose inner packet belongs to its flow
 * and whose inner IP ids run from its id on (the kernel numbers the segments of one TSO frame id, id+1, …).
 * Returns only the packets for which every segment was found; `wire` is consumed in order.
 */
export function pairSegments(tun: readonly Uint8Array[], wire: readonly WireVxlan[]):
  { tun: Uint8Array; wire: WireVxlan[] }[] {
  const used = new Set<number>();
  const out: { tun: Uint8Array; wire: WireVxlan[] }[] = [];
  for (const t of tun) {
    const key = flowKey(t);
    const total = t[9] === 6 ? tcpPayloadLength(t) : 0;
    const segs: WireVxlan[] = [];
    let carried = 0;
    for (let i = 0; i < wire.length; i++) {
      const w = wire[i]!;
      if (used.has(i) || flowKey(w.inner) !== key || ipId(w.inner) !== ((ipId(t) + segs.length) & 0xffff)) continue;
      segs.push(w);
      used.add(i);
      carried += t[9] === 6 ? tcpPayloadLength(w.inner) : 0;
      if (carried >= total) break;
    }
    if (segs.length > 0 && carried === total) out.push({ tun: t, wire: segs });
  }
  return out;
}
