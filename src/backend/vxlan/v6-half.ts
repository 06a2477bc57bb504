// What a vxlan backend needs of its IPv6 half, flannel-v6.<VNI>: kernel (kernel-v6.ts) or userspace
// (userspace-v6.ts). The dual-stack backends hold one beside flannel.<VNI>; in an IPv6-only network it is the whole
// backend (kernel-v6-only.ts). The half is fed the same leases and events as the backend and keeps to its own part
// of them (the IPv6 halves of other nodes' leases, never our own).
import type { Ipv6Net } from '../../net/ipv6.js';
import type { Lease, LeaseEvent, VxlanBackendData } from '../../subnet/lease.js';
import type { KeptDevice } from '../kit/keeper.js';

export interface V6Half {
  readonly deviceName: string;
  /** Its device as the backend's keeper watches it (re-made when deleted); absent: resync() re-makes it. */
  readonly kept?: KeptDevice;
  backendV6Data(): VxlanBackendData;
  register(): Promise<void>;
  start(own: Ipv6Net | null): Promise<void>;
  /** The full peer list, as the backend got it. */
  resetPeers(leases: readonly Lease[]): Promise<void>;
  handleEvents(events: readonly LeaseEvent[]): Promise<void>;
  /** Forgets the peer under `key` (kit/peer-diff.ts peerKey), e.g. one whose subnet is now ours. */
  remove(key: string): Promise<void>;
  /** Puts address, link, route and peers' entries back where they went missing. */
  resync(): Promise<void>;
  teardown(): Promise<void>;
  /**
   * How many peers failed to program since the last call (kernel half); the backend then retries its pass soon, as
   * for its IPv4 peers. Absent: the half has no such failures (the userspace loops' table cannot fail).
   */
  takeFailures?(): number;
  /** Datapath counters, keys behind `prefix` (dual stack: `v6_`, beside the IPv4 ones). */
  counters?(prefix?: string): Readonly<Record<string, number>>;
  stop?(): Promise<void>;
}
