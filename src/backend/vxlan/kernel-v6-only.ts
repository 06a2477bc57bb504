// The vxlan backend in an IPv6-only network (EnableIPv4 false), as upstream runs it: only flannel-v6.<VNI>
// (over the IPv6 underlay, its VtepMAC published as BackendV6Data), no flannel.<VNI> and no BackendData. The
// programming is the dual-stack IPv6 half's (kernel-v6.ts, or the userspace datapath's userspace-v6.ts when
// `half` is given); this adds the Backend around it and the 10 s resync.
import type { Backend, BackendClaims, BackendContext, BackendRegistration } from '../backend.js';
import { Keeper } from '../kit/keeper.js';
import { peerKey } from '../kit/peer-diff.js';
import type { Lease, LeaseEvent } from '../../subnet/lease.js';
import { vxlanDeviceMtu, type VxlanConfig } from './config.js';
import { KernelVxlanV6, vxlanV6DeviceName } from './kernel-v6.js';
import type { Logger } from '../../log.js';
import type { V6Half } from './v6-half.js';

const RESYNC_INTERVAL_MS = 10_000;
/** A pass in which some peer failed is retried this soon (doubling up to the resync interval), as on flannel.<VNI>. */
const RETRY_MIN_MS = 500;

export class KernelVxlanV6OnlyBackend implements Backend {
  private readonly v6: V6Half;
  private readonly mtu: number;
  private readonly keeper: Keeper;
  private readonly log: Logger;

  constructor(ctx: BackendContext, config: VxlanConfig,
    half?: (o: { mtu: number; extAddr6: string; log: Logger }) => V6Half) {
    const extAddr6 = ctx.extIface.extAddr6;
    if (!extAddr6) throw new Error('vxlan in an IPv6-only network needs the IPv6 address of the external interface (--public-ipv6)');
    this.log = ctx.log.child({ component: half ? 'vxlan-userspace' : 'vxlan-kernel', device: vxlanV6DeviceName(config.vni) });
    const log = this.log;
    // Upstream's MTU (interface − 50) though the IPv6 underlay header is 20 bytes longer: a full-size packet leaves
    // fragmented, which `tsflanneld doctor` points out; a different FLANNEL_MTU would set us apart from upstream nodes.
    this.mtu = vxlanDeviceMtu(config, ctx.extIface.mtu);
    this.v6 = half ? half({ mtu: this.mtu, extAddr6, log }) : new KernelVxlanV6({ vni: config.vni, port: config.port,
      learning: config.learning, gbp: config.gbp,
      mtu: this.mtu, localIP6: extAddr6, underlayIndex: ctx.extIface.index, stateDir: ctx.stateDir,
      directRouting: config.directRouting, work: ctx.work, ...(ctx.republishV6 ? { republish: ctx.republishV6 } : {}), log });
    // A userspace half's TUN is kept as flannel.<VNI> is (re-made as soon as it is deleted); a kernel half's
    // device is re-made by its resync.
    this.keeper = new Keeper({ work: ctx.work, log, everyMs: RESYNC_INTERVAL_MS,
      ...(this.v6.kept ? { device: this.v6.kept } : {}),
      retryMinMs: RETRY_MIN_MS, resync: async () => { await this.v6.resync(); return this.converged(); } });
  }

  claims(): BackendClaims {
    return { devices: [this.v6.deviceName], ownsRoute: () => false };
  }

  async register(): Promise<BackendRegistration> {
    await this.v6.register();
    return { backendType: 'vxlan', mtu: this.mtu, backendV6Data: this.v6.backendV6Data() };
  }

  async start(own: Lease): Promise<void> {
    // A re-acquired lease may be a subnet we had as a peer's.
    await this.v6.remove(peerKey(own));
    await this.v6.start(own.ipv6Subnet ?? null);
    this.keeper.start();
  }

  async resetPeers(peers: readonly Lease[]): Promise<void> {
    await this.v6.resetPeers(peers);
    await this.v6.resync();
    this.keeper.passDone(this.converged());
  }

  async handleEvents(events: readonly LeaseEvent[]): Promise<void> {
    await this.v6.handleEvents(events);
    this.keeper.passDone(this.converged());
  }

  /** True when every peer of the pass just run was programmed (else the keeper retries soon). */
  private converged(): boolean {
    const failed = this.v6.takeFailures?.() ?? 0;
    if (failed > 0) this.log.warn({ failed }, 'some IPv6 peers could not be programmed; retrying them soon');
    return failed === 0;
  }

  async stop(): Promise<void> {
    this.keeper.stop();
    await this.v6.stop?.();
  }

  async teardown(): Promise<void> {
    await this.stop();
    await this.v6.teardown();
  }

  counters(): Readonly<Record<string, number>> {
    // The only datapath here: its counters feed the datapath metrics unprefixed.
    return this.v6.counters?.('') ?? {};
  }
}
