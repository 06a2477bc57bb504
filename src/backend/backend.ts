// The contract between the daemon and a backend. Backends know nothing of etcd: the daemon hands them
// their own lease and the peers' lease events; they make the kernel (or the userspace datapath) match.
import type { Logger } from '../log.js';
import type { NetworkConfig } from '../config/network-config.js';
import type { Lease, LeaseEvent } from '../subnet/lease.js';

/** The interface flannel traffic leaves by, as chosen from --iface / --iface-regex / --iface-can-reach / default route. */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** The interface's own IPv4 address (dotted quad). */
  readonly ifaceAddr: string;
  /** What peers send to: --public-ip when given, else ifaceAddr. */
  readonly extAddr: string;
}

export interface BackendContext {
  readonly extIface: ExternalInterface;
  readonly network: NetworkConfig;
  /** --state-dir: where backends keep what must survive a reboot (e.g. the VtepMAC). */
  readonly stateDir: string;
  readonly vxlanDatapath: 'userspace' | 'kernel';
  /** --vxlan-busy-poll (µs), for the userspace datapath's loops. */
  readonly vxlanBusyPoll: number;
  /** --vxlan-allow-foreign-source: the userspace datapath accepts inner sources outside the sending peer's subnet. */
  readonly vxlanAllowForeignSource?: boolean;
  readonly log: Logger;
}

/** What a backend contributes to the lease and to subnet.env. */
export interface BackendRegistration {
  readonly backendType: string;
  readonly backendData?: unknown;
  /** FLANNEL_MTU. */
  readonly mtu: number;
}

export interface Backend {
  /** Prepares devices that must exist before the lease (e.g. to learn the VtepMAC). Called once. */
  register(): Promise<BackendRegistration>;
  /** Our lease is known (at start, and again if it had to be re-acquired): address devices with it. */
  start(own: Lease): Promise<void>;
  /** The complete set of peer leases (after the first list and after every re-list): converge to it. */
  resetPeers(peers: readonly Lease[]): Promise<void>;
  /** Incremental peer changes, in order. Never contains our own subnet. */
  handleEvents(events: readonly LeaseEvent[]): Promise<void>;
  /** Stops timers and loops. Leaves kernel state in place, as upstream does (a restart must not cut traffic). */
  stop(): Promise<void>;
  /** Counters for `status` and /metrics (e.g. datapath drops by reason). */
  counters(): Readonly<Record<string, number>>;
}

export type BackendFactory = (ctx: BackendContext) => Backend;
