// Telling our own writes to our key from another daemon's. Each renewal this process makes carries an etcd lease id
// it granted; a write with an id we never granted comes from another daemon with our PublicIP (two hosts with one
// public IP, flannel-compat §11.10), and both hosts then use one subnet.
import type { Logger } from '../log.js';
import type { Lease } from './lease.js';
import { RateLimitedLog } from './retry-pacing.js';

export class TwinDetector {
  /** etcd lease ids this process granted for its key (the last few). */
  private readonly grantedIds: string[] = [];
  private readonly trouble: RateLimitedLog;

  /**
   * `active` says whether the lease is still being kept; `describe` gives the subnet and PublicIP for the message;
   * `onTwin` is told the foreign etcd lease id.
   */
  constructor(log: Logger, private readonly active: () => boolean,
    private readonly describe: () => { subnet: string; publicIP: string },
    private readonly onTwin: (etcdLeaseId: string) => void) {
    this.trouble = new RateLimitedLog(log, 5 * 60_000);
  }

  /** Notes the etcd lease id of a lease we wrote (0: a reservation, which carries none). */
  remember(lease: Lease): void {
    if (lease.etcdLeaseId === '0' || this.grantedIds.includes(lease.etcdLeaseId)) return;
    this.grantedIds.push(lease.etcdLeaseId);
    if (this.grantedIds.length > 8) this.grantedIds.shift();
  }

  /**
   * Looks at the etcd lease id of a write to our key. Our own renewal's watch event can come before its reply, so
   * look again after a moment. Said once per 5 min, as an error.
   */
  check(etcdLeaseId: string): void {
    if (etcdLeaseId === '0' || this.grantedIds.includes(etcdLeaseId)) return;
    setTimeout(() => {
      if (!this.active() || this.grantedIds.includes(etcdLeaseId)) return;
      const { subnet, publicIP } = this.describe();
      this.trouble.problem(`another daemon with the same PublicIP ${publicIP} renews our lease for `
        + `${subnet}: two hosts share one public IP and so one subnet; give each host its own address `
        + '(--public-ip, --iface) and restart the one that is wrong', { subnet, otherEtcdLease: etcdLeaseId }, 'error');
      this.onTwin(etcdLeaseId);
    }, 2000).unref();
  }
}
