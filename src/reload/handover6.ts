// The IPv6 half's part of a reload handover (pure): the loop settings and peer table of flannel-v6.<VNI>, so that the
// next process runs its loops again on the handed-over fds before it asks etcd anything, as the IPv4 half's do.
// Addresses travel as text (JSON has no bigint), peer-table entries as the loops' own words.
import { formatCidr6, formatIPv6, parseCidr6, parseIPv6, type Ipv6Net } from '../net/ipv6.js';
import type { PeerTable6Op } from '../datapath/peer-table6.js';
import { SEND_PATH_CHOICES, type SendPathChoice } from '../datapath/send-path.js';

/** The IPv6 datapath's fixed settings: what its loops are started with and a handover carries. */
export interface Datapath6Settings {
  readonly vni: number;
  readonly port: number;
  readonly ownMac: string;
  /** Our IPv6 underlay address: the sending sockets bind to it. */
  readonly localIP6: bigint;
  readonly network: Ipv6Net;
  readonly subnetLen: number;
  /** The TUN's MTU (external MTU − 50, as upstream's flannel-v6 device). */
  readonly innerMtu: number;
  /** The external interface's MTU: outer datagrams of segments stay within it. */
  readonly outerMtu: number;
}

/** What the IPv6 loops were started with. */
export interface Loop6Config extends Datapath6Settings {
  readonly spinMicros: number | null;
  readonly fifoPriority: number | null;
  readonly allowForeignSource: boolean;
  /** --vxlan-send-path (null: auto); absent in a handover from a version without the IPv6 tunnel-GSO path. */
  readonly sendPath?: SendPathChoice | null;
}

/** The IPv6 loops' state as it travels in TSFLANNELD_HANDOVER. */
export interface Loops6Handover {
  readonly loops: Loop6Config;
  /** Our own subnet, then one set per peer. */
  readonly peers: readonly PeerTable6Op[];
}

export function sameLoop6Config(a: Loop6Config, b: Loop6Config): boolean {
  return a.vni === b.vni && a.port === b.port && a.ownMac === b.ownMac && a.localIP6 === b.localIP6
    && a.network.ip === b.network.ip && a.network.prefixLen === b.network.prefixLen && a.subnetLen === b.subnetLen
    && a.innerMtu === b.innerMtu && a.outerMtu === b.outerMtu && a.spinMicros === b.spinMicros
    && a.fifoPriority === b.fifoPriority && a.allowForeignSource === b.allowForeignSource
    && (a.sendPath ?? null) === (b.sendPath ?? null);
}

/** The JSON-safe form (addresses as text). */
export function encodeLoops6(h: Loops6Handover): unknown {
  const l = h.loops;
  return { loops: { ...l, localIP6: formatIPv6(l.localIP6), network: formatCidr6(l.network) }, peers: h.peers };
}

const int = (x: unknown, lo: number, hi: number): x is number => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
const words = (x: unknown, n: number): x is number[] => Array.isArray(x) && x.length === n && x.every((w) => int(w, 0, 0xffffffff));

function peer6Op(v: unknown): PeerTable6Op | null {
  const o = (v ?? {}) as Record<string, unknown>;
  if (o.op === 'own' && words(o.subnet, 2) && int(o.prefixLen, 0, 128)) return { op: 'own', subnet: o.subnet, prefixLen: o.prefixLen };
  if (o.op === 'set' && words(o.subnet, 2) && words(o.publicIP, 4) && Array.isArray(o.mac) && o.mac.length === 6
    && o.mac.every((b) => int(b, 0, 255))) {
    return { op: 'set', subnet: o.subnet, publicIP: o.publicIP, mac: o.mac as number[] };
  }
  return null;
}

/** What encodeLoops6 wrote; else the field (under loops6) that is not valid, and its value. */
export function decodeLoops6(v: unknown): Loops6Handover | { readonly field: string; readonly value: unknown } {
  const o = (v ?? {}) as Record<string, unknown>;
  const l = (o.loops ?? {}) as Record<string, unknown>;
  const bad = (field: string, value: unknown): { field: string; value: unknown } => ({ field: `loops6.${field}`, value });
  const localIP6 = typeof l.localIP6 === 'string' ? parseIPv6(l.localIP6) : null;
  if (localIP6 === null) return bad('loops.localIP6', l.localIP6);
  const network = typeof l.network === 'string' ? parseCidr6(l.network) : null;
  if (network === null) return bad('loops.network', l.network);
  const ok = int(l.vni, 0, 0xffffff) && int(l.port, 1, 65535) && typeof l.ownMac === 'string'
    && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(l.ownMac) && int(l.subnetLen, 0, 128) && int(l.innerMtu, 68, 65535)
    && int(l.outerMtu, 68, 65535) && (l.spinMicros === null || int(l.spinMicros, 0, 1e7))
    && (l.fifoPriority === null || int(l.fifoPriority, 1, 99)) && typeof l.allowForeignSource === 'boolean'
    && (l.sendPath === undefined || l.sendPath === null || SEND_PATH_CHOICES.includes(l.sendPath as SendPathChoice));
  if (!ok) return bad('loops', l);
  if (!Array.isArray(o.peers)) return bad('peers', o.peers);
  const peers: PeerTable6Op[] = [];
  for (const [i, p] of (o.peers as unknown[]).entries()) {
    const op = peer6Op(p);
    if (op === null) return bad(`peers[${i}]`, p);
    peers.push(op);
  }
  return { loops: { vni: l.vni as number, port: l.port as number, ownMac: l.ownMac as string, localIP6, network,
    subnetLen: l.subnetLen as number, innerMtu: l.innerMtu as number, outerMtu: l.outerMtu as number,
    spinMicros: l.spinMicros as number | null, fifoPriority: l.fifoPriority as number | null,
    allowForeignSource: l.allowForeignSource as boolean, sendPath: (l.sendPath ?? null) as SendPathChoice | null }, peers };
}

/** The subnet a peer-table entry's [hi, lo] words stand for. */
export function net6FromWords(subnet: readonly number[], prefixLen: number): Ipv6Net {
  return { ip: (BigInt(subnet[0]! >>> 0) << 96n) | (BigInt(subnet[1]! >>> 0) << 64n), prefixLen };
}
