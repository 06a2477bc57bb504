// The adopting side of a reload: at start, the fds a previous process left us (TSFLANNELD_HANDOVER after a re-exec,
// LISTEN_FDS from systemd's fd store after a restart) are checked against what they claim to be and kept here until
// the backend that owns the device takes them. After a re-exec the loops run again at once, with the peer table they
// had, before etcd is asked anything: the gap is the new program's start-up, not the daemon's. What is not what it claims, or is never taken, is closed: a stale TUN
// queue that nobody reads would swallow the packets the kernel steers to it.
import type { UserspaceDatapath } from '../datapath/userspace-datapath.js';
import type { UserspaceDatapath6 } from '../datapath/userspace-datapath6.js';
import type { Logger } from '../log.js';
import * as fs from 'node:fs';
import { decodeHandover, decodeSnapshot, datapathsFromStore, HANDOVER_ENV, type DatapathHandover, HandoverError, listenFds } from './handover.js';
import { tunIo } from '../datapath/native.js';
import { net6FromWords } from './handover6.js';
import { reloadNative } from './reload-native.js';

/** Inherited fds; `running`: loops already started on them (after a re-exec). */
export interface Inherited {
  readonly handover: DatapathHandover;
  readonly running: UserspaceDatapath | null;
  /** The IPv6 half's loops already started on them (after a re-exec that handed over `loops6`). */
  readonly running6?: UserspaceDatapath6 | null;
}

const waiting = new Map<string, Inherited>();
const LISTEN_VARS = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

function closeFd(fd: number): void {
  try {
    // The addon's closeFd (tun.cc) closes any fd.
    tunIo().closeFd(fd);
  } catch {
    // already closed
  }
}

const allFds = (d: DatapathHandover): number[] => [...d.tunFds, ...d.udpFds, ...d.sendFds];

/** Null when every fd is what the handover says; else a one-line reason. */
function mismatch(d: DatapathHandover): string | null {
  const native = reloadNative();
  try {
    for (const fd of d.tunFds) {
      const what = native.fdDescribe(fd);
      if (what.kind !== 'tun' || what.name !== d.device || !what.vnetHdr) return `fd ${fd} is not a queue of TUN ${d.device}`;
      if (d.tunFds.length > 1 && !what.multiQueue) return `fd ${fd}: TUN ${d.device} is not multi-queue`;
    }
    for (const fd of [...d.udpFds, ...d.sendFds]) {
      if (native.fdDescribe(fd).kind !== 'udp') return `fd ${fd} is not a UDP socket`;
    }
  } catch (err) {
    return (err as Error).message;
  }
  if (d.udpFds.length < d.tunFds.length) return `${d.tunFds.length} TUN queues but only ${d.udpFds.length} receiving sockets`;
  return null;
}

/**
 * Reads and clears the handover variables (children must not see them), checks the fds and keeps the good ones for
 * takeDatapath(). Inherited fds get FD_CLOEXEC back, so that iptables and other children do not hold TUN queues.
 */
export function collectInheritedFds(log: Logger, env: NodeJS.ProcessEnv = process.env): number {
  let found: DatapathHandover[] = [];
  let source = '';
  const text = env[HANDOVER_ENV];
  delete env[HANDOVER_ENV];
  const stored = listenFds(env, process.pid);
  for (const v of LISTEN_VARS) delete env[v];
  if (text !== undefined) {
    source = 're-exec';
    try {
      found = [...decodeHandover(text).datapaths];
    } catch (err) {
      log.error(err instanceof HandoverError ? err.message : `${HANDOVER_ENV}: ${(err as Error).message}`);
    }
  }
  if (stored !== null) {
    source = source === '' ? 'fd store' : `${source} and fd store`;
    const fromStore = datapathsFromStore(stored);
    for (const fd of fromStore.unused) closeFd(fd);
    fromStore.datapaths = fromStore.datapaths.map((d) => withSnapshot(d, fromStore.snapshots.get(d.device), log));
    // After a re-exec the fds were already there: the store holds the same queues, so the re-exec's set wins.
    for (const d of fromStore.datapaths) {
      if (found.some((f) => f.device === d.device)) allFds(d).filter((fd) => !found.some((f) => allFds(f).includes(fd))).forEach(closeFd);
      else found.push(d);
    }
  }
  for (const d of found) {
    const why = mismatch(d);
    if (why !== null) {
      log.error({ device: d.device }, `inherited datapath fds not adopted (${why}); the datapath is opened afresh`);
      for (const fd of allFds(d)) closeFd(fd);
      continue;
    }
    for (const fd of allFds(d)) reloadNative().fdSetCloexec(fd, true);
    waiting.set(d.device, d.loops6 ? { handover: d, running: null, running6: startEarly6(d, log) }
      : { handover: d, running: startEarly(d, log) });
    log.info({ device: d.device, from: source, tunQueues: d.tunFds.length, peers: d.peers.length },
      `adopting the open TUN queues and sockets of ${d.device} (${source})`);
  }
  return waiting.size;
}

/** The peers and loop settings the stored snapshot file holds for `d` (closed after reading), if readable. */
function withSnapshot(d: DatapathHandover, fd: number | undefined, log: Logger): DatapathHandover {
  if (fd === undefined) return d;
  try {
    const buf = Buffer.alloc(fs.fstatSync(fd).size);
    fs.readSync(fd, buf, 0, buf.length, 0);
    const snap = decodeSnapshot(buf.toString('utf8'));
    return { ...d, peers: snap.peers, loops: snap.loops };
  } catch (err) {
    log.warn({ device: d.device }, `the stored loop snapshot of ${d.device} is unusable (${(err as Error).message}); `
      + 'the loops wait for the peers from etcd');
    return d;
  } finally {
    closeFd(fd);
  }
}

/** Runs the loops on the adopted fds with the handed-over table, when it has our own subnet and the loop settings. */
function startEarly(d: DatapathHandover, log: Logger): UserspaceDatapath | null {
  const own = d.peers.find((op) => op.op === 'own');
  const l = d.loops;
  if (!l || !own || own.op !== 'own') return null;
  try {
    // Loaded here, on a handover only: every start imports this file, and most run no userspace datapath.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { UserspaceDatapath: Datapath } = require('../datapath/userspace-datapath.js') as typeof import('../datapath/userspace-datapath.js');
    const datapath = new Datapath({
      tunName: d.device, vni: l.vni, port: l.port, ownMac: l.ownMac, localIP: l.localIP, network: l.network,
      subnetLen: l.subnetLen, innerMtu: l.innerMtu, persist: true, allowForeignSource: l.allowForeignSource,
      ...(l.spinMicros !== null ? { spinMicros: l.spinMicros } : {}), adopt: d,
      ...(l.sendPath !== null ? { sendPath: l.sendPath } : {}),
      ...(l.fifoPriority !== null ? { scheduling: { fifoPriority: l.fifoPriority } } : {}),
      log: log.child({ component: 'vxlan-userspace', device: d.device }),
    });
    datapath.seedPeers(d.peers);
    datapath.start({ ip: own.subnetIP, prefixLen: own.prefixLen });
    return datapath;
  } catch (err) {
    log.error({ device: d.device }, `the handed-over loops of ${d.device} could not start early (${(err as Error).message}); `
      + 'they start with the backend');
    return null;
  }
}

/** As startEarly, for the IPv6 half (flannel-v6.<VNI>): its loops and table travel in `loops6`. */
function startEarly6(d: DatapathHandover, log: Logger): UserspaceDatapath6 | null {
  const own = d.loops6?.peers.find((op) => op.op === 'own');
  const l = d.loops6?.loops;
  if (!l || !own || own.op !== 'own') return null;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { datapath6From } = require('../datapath/userspace-datapath6.js') as typeof import('../datapath/userspace-datapath6.js');
    const datapath = datapath6From(d.device, l, log.child({ component: 'vxlan-userspace', device: d.device }), d);
    datapath.seedPeers(d.loops6!.peers);
    datapath.start(net6FromWords(own.subnet, own.prefixLen));
    return datapath;
  } catch (err) {
    log.error({ device: d.device }, `the handed-over loops of ${d.device} could not start early (${(err as Error).message}); `
      + 'they start with the backend');
    return null;
  }
}

/** The inherited fds of `device`, once; null when there are none. */
export function takeDatapath(device: string): Inherited | null {
  const d = waiting.get(device) ?? null;
  waiting.delete(device);
  return d;
}

/** Closes what no backend took (e.g. the backend type changed during the reload). */
export function closeUntaken(log: Logger): void {
  for (const { handover: d, running, running6 } of waiting.values()) {
    log.info({ device: d.device }, `inherited fds of ${d.device} not needed by this backend; closed`);
    if (running) void running.stop();
    else if (running6) void running6.stop();
    else for (const fd of allFds(d)) closeFd(fd);
  }
  waiting.clear();
}
