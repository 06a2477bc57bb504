// What one daemon hands the next across a reload (pure). The fds of the userspace datapath stay open across the
// exec; their numbers, and the peer table the loops had, travel in one environment variable. After a crash restart
// under systemd the fds come back from the fd store instead (LISTEN_FDS), named so that each finds its role again;
// the peers are then learnt from etcd as at any start.
import type { PeerTableOp } from '../datapath/peer-table.js';
import { SEND_PATH_CHOICES, type SendPathChoice } from '../datapath/send-path.js';
import { decodeLoops6, encodeLoops6, type Loops6Handover } from './handover6.js';

/** The environment variable that carries an encoded Handover into the re-executed process. */
export const HANDOVER_ENV = 'TSFLANNELD_HANDOVER';

export type FdRole = 'tun' | 'udp' | 'send';

/**
 * The loops' state kept beside the fds in the fd store (an unlinked file, FDNAME `<device>-state-0`), so that after a
 * crash the loops run again with their peers before etcd is asked, as after a re-exec.
 */
export interface LoopSnapshot {
  readonly peers: readonly PeerTableOp[];
  readonly loops: LoopConfig;
}

/** The open fds of one userspace datapath: TUN queues, receiving sockets (one per queue), sending sockets. */
export interface DatapathFds {
  readonly tunFds: readonly number[];
  readonly udpFds: readonly number[];
  readonly sendFds: readonly number[];
}

/** What the loops were started with, so the next process can run them again before it asks etcd anything. */
export interface LoopConfig {
  readonly vni: number;
  readonly port: number;
  readonly ownMac: string;
  /** Host-order uint32 the sending sockets are bound to. */
  readonly localIP: number;
  readonly network: { readonly ip: number; readonly prefixLen: number };
  readonly subnetLen: number;
  readonly innerMtu: number;
  readonly spinMicros: number | null;
  readonly allowForeignSource: boolean;
  /**
   * The send path asked for (--vxlan-send-path; null = the default). The tunnel-GSO TAP is not handed over (its fds
   * close at the exec): the next process opens it again and re-checks the path before its loops run.
   */
  readonly sendPath: SendPathChoice | null;
  /** SCHED_FIFO priority of the loop threads (--vxlan-loop-priority; null = normal scheduling). */
  readonly fifoPriority: number | null;
}

export interface DatapathHandover extends DatapathFds {
  /** The TUN device's name, e.g. flannel.1. */
  readonly device: string;
  /** The loops' peer table as a replay (own subnet, then one set per peer); empty when unknown (fd store). */
  readonly peers: readonly PeerTableOp[];
  /** Absent from the fd store: the loops then wait for the backend. */
  readonly loops?: LoopConfig;
  /** The IPv6 half (flannel-v6.<VNI>) instead of `loops` and `peers`: its loop settings and table (handover6.ts). */
  readonly loops6?: Loops6Handover;
}

export function sameLoopConfig(a: LoopConfig, b: LoopConfig): boolean {
  return a.vni === b.vni && a.port === b.port && a.ownMac === b.ownMac && a.localIP === b.localIP
    && a.network.ip === b.network.ip && a.network.prefixLen === b.network.prefixLen && a.subnetLen === b.subnetLen
    && a.innerMtu === b.innerMtu && a.spinMicros === b.spinMicros && a.allowForeignSource === b.allowForeignSource
    && a.sendPath === b.sendPath && a.fifoPriority === b.fifoPriority;
}

export interface Handover {
  readonly version: 1;
  readonly datapaths: readonly DatapathHandover[];
}

/** A handover that cannot be used; the message is one line naming the field, the value and what happens. */
export class HandoverError extends Error {
  override readonly name = 'HandoverError';
}

export function encodeHandover(h: Handover): string {
  return JSON.stringify({ ...h, datapaths: h.datapaths.map((d) => (d.loops6 ? { ...d, loops6: encodeLoops6(d.loops6) } : d)) });
}

const isFd = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 3 && (x as number) < 1 << 20;
const isU32 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;

function fail(field: string, value: unknown): never {
  const shown = JSON.stringify(value) ?? String(value);
  throw new HandoverError(`${HANDOVER_ENV}: ${field} is ${shown.slice(0, 80)}, which is not valid; `
    + 'the fds are not adopted and the datapath is opened afresh');
}

function fdList(v: unknown, field: string, min: number): number[] {
  if (!Array.isArray(v) || v.length < min || v.length > 256 || !v.every(isFd)) fail(field, v);
  return v as number[];
}

function loopConfig(v: unknown, field: string): LoopConfig {
  const o = (v ?? {}) as Record<string, unknown>;
  const n = (o.network ?? {}) as Record<string, unknown>;
  const int = (x: unknown, lo: number, hi: number): boolean => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;
  const ok = int(o.vni, 0, 0xffffff) && int(o.port, 1, 65535) && typeof o.ownMac === 'string'
    && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(o.ownMac) && isU32(o.localIP) && isU32(n.ip) && int(n.prefixLen, 0, 32)
    && int(o.subnetLen, 0, 32) && int(o.innerMtu, 68, 65535) && (o.spinMicros === null || int(o.spinMicros, 0, 1e7))
    && typeof o.allowForeignSource === 'boolean'
    // Absent in a handover from a build before these fields: the defaults then.
    && (o.sendPath === undefined || o.sendPath === null || SEND_PATH_CHOICES.includes(o.sendPath as SendPathChoice))
    && (o.fifoPriority === undefined || o.fifoPriority === null || int(o.fifoPriority, 1, 99));
  if (!ok) fail(field, v);
  return { vni: o.vni as number, port: o.port as number, ownMac: o.ownMac as string, localIP: o.localIP as number,
    network: { ip: n.ip as number, prefixLen: n.prefixLen as number }, subnetLen: o.subnetLen as number,
    innerMtu: o.innerMtu as number, spinMicros: o.spinMicros as number | null, allowForeignSource: o.allowForeignSource as boolean,
    sendPath: (o.sendPath ?? null) as SendPathChoice | null, fifoPriority: (o.fifoPriority ?? null) as number | null };
}

function peerOp(v: unknown, field: string): PeerTableOp {
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') fail(field, v);
  if (o.op === 'own' && isU32(o.subnetIP) && Number.isInteger(o.prefixLen) && (o.prefixLen as number) >= 0
    && (o.prefixLen as number) <= 32) {
    return { op: 'own', subnetIP: o.subnetIP, prefixLen: o.prefixLen as number };
  }
  if (o.op === 'set' && isU32(o.subnetIP) && isU32(o.publicIP) && Array.isArray(o.mac) && o.mac.length === 6
    && o.mac.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return { op: 'set', subnetIP: o.subnetIP, publicIP: o.publicIP, mac: o.mac as number[] };
  }
  return fail(field, v);
}

/** Parses and checks what encodeHandover wrote; throws HandoverError on anything else. */
export function decodeHandover(text: string): Handover {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('the value', text);
  }
  const r = raw as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || r.version !== 1) fail('version', r?.version);
  if (!Array.isArray(r.datapaths)) fail('datapaths', r.datapaths);
  const seen = new Set<number>();
  const datapaths = (r.datapaths as unknown[]).map((d, i): DatapathHandover => {
    const o = (d ?? {}) as Record<string, unknown>;
    const at = `datapaths[${i}]`;
    if (typeof o.device !== 'string' || !/^[\w.-]{1,15}$/.test(o.device)) fail(`${at}.device`, o.device);
    const tunFds = fdList(o.tunFds, `${at}.tunFds`, 1);
    const udpFds = fdList(o.udpFds, `${at}.udpFds`, 1);
    const sendFds = fdList(o.sendFds, `${at}.sendFds`, 1);
    for (const fd of [...tunFds, ...udpFds, ...sendFds]) {
      if (seen.has(fd)) fail(`${at} fd`, fd);
      seen.add(fd);
    }
    if (!Array.isArray(o.peers)) fail(`${at}.peers`, o.peers);
    const peers = (o.peers as unknown[]).map((p, j) => peerOp(p, `${at}.peers[${j}]`));
    const loops = o.loops === undefined ? {} : { loops: loopConfig(o.loops, `${at}.loops`) };
    const loops6 = o.loops6 === undefined ? null : decodeLoops6(o.loops6);
    if (loops6 !== null && 'field' in loops6) fail(`${at}.${loops6.field}`, loops6.value);
    return { device: o.device, tunFds, udpFds, sendFds, peers, ...loops, ...(loops6 ? { loops6 } : {}) };
  });
  return { version: 1, datapaths };
}

/** Parses what the snapshot file holds; throws HandoverError. */
export function decodeSnapshot(text: string): LoopSnapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail('the loop snapshot', text);
  }
  const o = (raw ?? {}) as Record<string, unknown>;
  if (!Array.isArray(o.peers)) fail('snapshot.peers', o.peers);
  return { peers: (o.peers as unknown[]).map((p, j) => peerOp(p, `snapshot.peers[${j}]`)), loops: loopConfig(o.loops, 'snapshot.loops') };
}

/** The FDNAME= of one fd in systemd's fd store: `<device>-<role>-<index>` (no ':', which LISTEN_FDNAMES splits on). */
export function fdStoreName(device: string, role: FdRole | 'state', index: number): string {
  return `${device}-${role}-${index}`;
}

export interface ListenFdsEnv {
  readonly LISTEN_FDS?: string | undefined;
  readonly LISTEN_PID?: string | undefined;
  readonly LISTEN_FDNAMES?: string | undefined;
}

/**
 * The fds systemd passed (sd_listen_fds(3)): fd 3 onwards, LISTEN_FDS of them, meant for us only when LISTEN_PID is
 * our PID. Null when none were passed to us.
 */
export function listenFds(env: ListenFdsEnv, pid: number): { fd: number; name: string }[] | null {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return null;
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n <= 0 || n > 1024) return null;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  return Array.from({ length: n }, (_, i) => ({ fd: 3 + i, name: names[i] ?? 'unknown' }));
}

/**
 * Groups named store fds back into datapaths: every device with at least one fd of each role, queues in index
 * order. Fds of an incomplete or unknown set are listed in `unused` (to be closed).
 */
export function datapathsFromStore(fds: readonly { fd: number; name: string }[]): {
  datapaths: DatapathHandover[]; unused: number[]; snapshots: Map<string, number>;
} {
  const byDevice = new Map<string, Record<FdRole, Map<number, number>>>();
  const unused: number[] = [];
  const snapshots = new Map<string, number>();
  for (const { fd, name } of fds) {
    const s = /^([\w.-]{1,15})-state-0$/.exec(name);
    if (s) {
      const prior = snapshots.get(s[1]!);
      if (prior !== undefined) unused.push(prior);
      snapshots.set(s[1]!, fd);
      continue;
    }
    const m = /^([\w.-]{1,15})-(tun|udp|send)-(\d{1,3})$/.exec(name);
    if (!m) {
      unused.push(fd);
      continue;
    }
    const [, device, role, index] = m as unknown as [string, string, FdRole, string];
    let roles = byDevice.get(device);
    if (!roles) byDevice.set(device, roles = { tun: new Map(), udp: new Map(), send: new Map() });
    const prior = roles[role].get(Number(index));
    if (prior !== undefined) unused.push(prior);
    roles[role].set(Number(index), fd);
  }
  const datapaths: DatapathHandover[] = [];
  const ordered = (m: Map<number, number>): number[] => [...m].sort((a, b) => a[0] - b[0]).map(([, fd]) => fd);
  for (const [device, roles] of byDevice) {
    if (roles.tun.size === 0 || roles.udp.size === 0 || roles.send.size === 0) {
      unused.push(...roles.tun.values(), ...roles.udp.values(), ...roles.send.values());
      continue;
    }
    datapaths.push({ device, tunFds: ordered(roles.tun), udpFds: ordered(roles.udp), sendFds: ordered(roles.send), peers: [] });
  }
  for (const [device, fd] of snapshots) {
    if (!datapaths.some((d) => d.device === device)) {
      unused.push(fd);
      snapshots.delete(device);
    }
  }
  return { datapaths, unused, snapshots };
}
