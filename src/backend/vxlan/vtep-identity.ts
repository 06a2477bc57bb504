// The VtepMAC one vxlan device publishes, for both datapaths: loaded from --state-dir, kept there when it changes,
// and replaced when another host turns out to publish the same one (a --state-dir cloned with a VM image).
import type { Logger } from '../../log.js';
import type { VxlanPeer } from './peers.js';

/** What a clash report needs of the peer: its MAC, its address and the subnet it is known by. */
export type ClashingPeer = Pick<VxlanPeer, 'vtepMac' | 'publicIP' | 'key'>;
import { loadOrCreateVtepMac, randomVtepMac, storeVtepMac } from './vtep-mac.js';

export class VtepIdentity {
  mac = '';
  clashes = 0;

  constructor(private readonly stateDir: string, private readonly deviceName: string, private readonly log: Logger) {}

  /**
   * The kept MAC (a new one is stored first). With `orRandom`, an unusable state dir costs only the reboot-proof
   * MAC, not the start.
   */
  async load(orRandom: boolean): Promise<string> {
    try {
      this.mac = await loadOrCreateVtepMac(this.stateDir, this.deviceName);
    } catch (err) {
      if (!orRandom) throw err;
      this.log.warn(`cannot keep the VtepMAC under --state-dir ${this.stateDir} (${(err as Error).message}); `
        + 'using a random one, which peers must relearn after a reboot: make the directory writable');
      this.mac = randomVtepMac();
    }
    return this.mac;
  }

  /** Takes `mac` as ours (e.g. the MAC of a device that outlived the state file) and keeps it. */
  async adopt(mac: string): Promise<void> {
    this.mac = mac;
    await this.remember();
  }

  /**
   * When `peer` still publishes our MAC: switches to a new random one, keeps it and returns the old one; the caller
   * puts it on the device and then calls announce(). Null when there is nothing to do (already switched).
   */
  async leave(peer: ClashingPeer): Promise<string | null> {
    if (peer.vtepMac !== this.mac) return null;
    const old = this.mac;
    this.mac = randomVtepMac();
    this.clashes++;
    await this.remember();
    return old;
  }

  announce(old: string, peer: ClashingPeer): void {
    this.log.warn({ oldMac: old, newMac: this.mac, peer: peer.publicIP, subnet: peer.key },
      `host ${peer.publicIP} publishes our VtepMAC ${old} (a --state-dir copied from this host?): `
      + 'using a new VtepMAC and republishing our lease');
  }

  private async remember(): Promise<void> {
    await storeVtepMac(this.stateDir, this.deviceName, this.mac).catch((err: unknown) =>
      this.log.warn(`cannot keep the VtepMAC under --state-dir ${this.stateDir}: ${(err as Error).message}`));
  }
}
