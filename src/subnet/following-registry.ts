// Under --etcd-api=auto a daemon that started on the v2 store follows the network to v3 once `migrate-etcd` has copied
// it there, without a restart: it looks for the v3 config now and then and, when it is the same config, sends every
// later call to the v3 registry. Open watches are ended as 'canceled', so the watcher re-lists from v3 and the lease
// manager re-reads its lease there (migrate-etcd copied it, with its remaining TTL); the subnet stays.
import type { Logger } from '../log.js';
import type { Ipv4Net } from '../net/ipv4.js';
import type { Ipv6Net } from '../net/ipv6.js';
import { sameConfigText } from './config-text.js';
import type { Lease, LeaseAttrs } from './lease.js';
import type {
  ConfigRead, ConfigWatchHandlers, EtcdApi, LeaseRegistry, ListOptions, RegistryWatch, RegistryWatchHandlers,
} from './registry.js';

const DEFAULT_CHECK_MS = 5000;

export class FollowingRegistry implements LeaseRegistry {
  private current: LeaseRegistry;
  /** Open lease and config watches: ended as 'canceled' on the move to v3, so their owners start again there. */
  private readonly watches = new Set<{ inner: RegistryWatch; handlers: Pick<RegistryWatchHandlers, 'broken'>; api: EtcdApi }>();
  private timer: NodeJS.Timeout | null = null;
  private warnedDiffers = false;
  private readonly log: Logger;

  constructor(v2: LeaseRegistry, private readonly v3: LeaseRegistry, log: Logger, private readonly checkMs = DEFAULT_CHECK_MS) {
    this.current = v2;
    this.log = log.child({ component: 'registry' });
    this.schedule();
  }

  get api(): EtcdApi { return this.current.api; }
  get configKey(): string { return this.current.configKey; }
  get subnetsPrefix(): string { return this.current.subnetsPrefix; }

  /** Stops looking for the v3 config. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.current.api === 'v3') return;
    this.timer = setTimeout(() => void this.check().finally(() => this.schedule()), this.checkMs);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    let v3Text: string | null;
    let v2Text: string | null;
    try {
      [v3Text, v2Text] = await Promise.all([this.v3.getConfigText(), this.current.getConfigText()]);
    } catch {
      return; // etcd trouble is reported by the lease manager and watcher; look again later
    }
    if (v3Text === null) return;
    if (v2Text !== null && !sameConfigText(v2Text, v3Text)) {
      if (!this.warnedDiffers) {
        this.warnedDiffers = true;
        this.log.warn({ key: this.v3.configKey }, 'the etcd v3 store now holds a network config that differs from the v2 one '
          + 'this daemon runs on; staying on v2: restart the daemon to use the v3 config');
      }
      return;
    }
    this.switchToV3();
  }

  private switchToV3(): void {
    this.current = this.v3;
    this.close();
    this.log.info({ key: this.v3.configKey }, 'the network config is now in the etcd v3 store (migrate-etcd): switching from '
      + 'the v2 API to v3; the subnet stays');
    for (const w of [...this.watches]) {
      if (w.api === 'v3') continue;
      this.watches.delete(w);
      void w.inner.stop().then(() => w.handlers.broken('canceled', new Error('moved from the etcd v2 store to v3')));
    }
  }

  keyOf(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): string { return this.current.keyOf(subnet, ipv6Subnet); }
  getConfigText(): Promise<string | null> { return this.current.getConfigText(); }
  readConfig(): Promise<ConfigRead> { return this.current.readConfig(); }
  listLeases(opts?: ListOptions): Promise<{ leases: Lease[]; revision: string }> { return this.current.listLeases(opts); }
  getLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null> { return this.current.getLease(subnet, ipv6Subnet); }
  readLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<{ lease: Lease | null; revision: string }> {
    return this.current.readLease(subnet, ipv6Subnet);
  }
  createLease(subnet: Ipv4Net, attrs: LeaseAttrs, ttl: number, ipv6Subnet?: Ipv6Net | null): Promise<Lease | null> {
    return this.current.createLease(subnet, attrs, ttl, ipv6Subnet);
  }
  grantAhead(ttl: number): void { this.current.grantAhead?.(ttl); }
  dropGrantAhead(): void { this.current.dropGrantAhead?.(); }
  renewLease(lease: Lease, attrs: LeaseAttrs, ttl: number): Promise<Lease> { return this.current.renewLease(lease, attrs, ttl); }
  renewExistingLease(lease: Lease, attrs: LeaseAttrs, ttl: number): Promise<Lease | null> {
    return this.current.renewExistingLease(lease, attrs, ttl);
  }
  updateReservation(subnet: Ipv4Net, attrs: LeaseAttrs): Promise<Lease> { return this.current.updateReservation(subnet, attrs); }
  deleteLease(subnet: Ipv4Net, ipv6Subnet?: Ipv6Net | null): Promise<void> { return this.current.deleteLease(subnet, ipv6Subnet); }
  withdrawCreated(lease: Lease): Promise<void> { return this.current.withdrawCreated(lease); }

  watchLeases(fromRevision: string, handlers: RegistryWatchHandlers, only?: Ipv4Net, onlyIpv6?: Ipv6Net | null): RegistryWatch {
    return this.track(handlers, (broken) => this.current.watchLeases(fromRevision, {
      events: (evts, revision) => { if (broken.live()) handlers.events(evts, revision); },
      broken: broken.end,
      ...(handlers.connected ? { connected: () => handlers.connected?.() } : {}),
    }, only, onlyIpv6));
  }

  /** Watches the config on the store in use; the move to v3 ends it as 'canceled', so the follower re-reads there. */
  watchConfig(afterRevision: string, handlers: ConfigWatchHandlers): RegistryWatch {
    return this.track(handlers, (broken) => this.current.watchConfig(afterRevision, {
      changed: (revision) => { if (broken.live()) handlers.changed(revision); },
      broken: broken.end,
      ...(handlers.connected ? { connected: () => handlers.connected?.() } : {}),
    }));
  }

  /** Opens a watch on the current store and remembers it until it ends, is stopped, or the switch ends it. */
  private track(handlers: Pick<RegistryWatchHandlers, 'broken'>,
    open: (broken: { live(): boolean; end: RegistryWatchHandlers['broken'] }) => RegistryWatch): RegistryWatch {
    const entry = { api: this.current.api, handlers, inner: undefined as unknown as RegistryWatch };
    entry.inner = open({
      live: () => this.watches.has(entry),
      end: (reason, err) => {
        if (!this.watches.delete(entry)) return; // already ended by the switch
        handlers.broken(reason, err);
      },
    });
    this.watches.add(entry);
    return {
      stop: async () => {
        this.watches.delete(entry);
        await entry.inner.stop();
      },
    };
  }
}
