// The contract between the daemon and a backend. Backends know nothing of etcd: the daemon hands them
// their own lease and the peers' lease events; they make the kernel (or the userspace datapath) match.
import type { Logger } from '../log.js';
import type { NetworkConfig } from '../config/network-config.js';
import type { ExternalInterface } from '../net/external-interface.js';
import type { KernelRoute } from '../netlink/routes.js';
import type { Lease, LeaseEvent } from '../subnet/lease.js';

export type { ExternalInterface } from '../net/external-interface.js';

/**
 * Where a backend's own timers and kernel watchers post their work: the BackendDriver runs it in line with the
 * daemon's calls, so a backend never runs two things at once and needs no promise chain of its own.
 */
export interface BackendWork {
  /** Queues `run`; returns at once. A failure is logged with `what`, never thrown. */
  post(what: string, run: () => Promise<void>): void;
}

/** Settings that only one backend reads, keyed by backend type (host-gw never sees vxlan's). */
export interface BackendSettings {
  readonly vxlan?: {
    readonly datapath: 'userspace' | 'kernel';
    /** --vxlan-busy-poll (µs), for the userspace datapath's loops; absent: the datapath's default. */
    readonly busyPoll?: number;
    /** --vxlan-allow-foreign-source: the userspace datapath accepts inner sources outside the sending peer's subnet. */
    readonly allowForeignSource?: boolean;
    /** --vxlan-send-path for the userspace datapath; absent: 'auto'. */
    readonly sendPath?: 'auto' | 'tunnel-gso' | 'segment';
    /** --vxlan-loop-priority: SCHED_FIFO priority of the loop threads; absent or 0: normal scheduling. */
    readonly loopPriority?: number;
  };
}

/** What every backend is given. */
export interface BackendContext {
  readonly extIface: ExternalInterface;
  readonly network: NetworkConfig;
  /** --state-dir: where backends keep what must survive a reboot (e.g. the VtepMAC). */
  readonly stateDir: string;
  readonly log: Logger;
  readonly work: BackendWork;
  /**
   * Asks the daemon to publish new BackendData in our lease (e.g. a VtepMAC changed after a clash). Absent where
   * no lease is kept (tests that drive a backend directly).
   */
  readonly republish?: (backendData: unknown) => void;
  /** The same for BackendV6Data (flannel-v6.<VNI>'s VtepMAC changed after a clash). */
  readonly republishV6?: (backendV6Data: unknown) => void;
}

/** What a backend contributes to the lease and to subnet.env. */
export interface BackendRegistration {
  readonly backendType: string;
  readonly backendData?: unknown;
  /** Dual stack: what the IPv6 half publishes (vxlan: flannel-v6.<VNI>'s {VNI, VtepMAC}). */
  readonly backendV6Data?: unknown;
  /** FLANNEL_MTU. */
  readonly mtu: number;
}

/** The kernel state a backend calls its own: anything of ours outside it is a leftover of another backend. */
export interface BackendClaims {
  /** Device names it uses (e.g. flannel.1). */
  readonly devices: readonly string[];
  /** True for a route with our protocol that this backend installs (e.g. host-gw's peer routes). */
  ownsRoute(route: KernelRoute): boolean;
}

export interface Backend {
  /** Known before register(): what leftovers of other backends must not touch. */
  claims(): BackendClaims;
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
  /** Stops, then removes the devices and routes it made (a switch to another backend). */
  teardown(): Promise<void>;
  /** Counters for `status` and /metrics (e.g. datapath drops by reason). */
  counters(): Readonly<Record<string, number>>;
}

export type BackendFactory = (ctx: BackendContext, settings: BackendSettings) => Backend;
