// Named points in the daemon's flow where other parts attach (sd_notify READY, /readyz, metrics, the status file)
// without the daemon knowing them. Hooks run in the order they were attached and are awaited one by one; notices are
// synchronous observations (counts, gauges) whose observers can never change what the daemon does.
import type { ExternalInterface } from './net/external-interface.js';
import type { NetworkConfig } from './config/network-config.js';
import type { Options } from './options.js';
import type { EtcdOperation } from './subnet/etcd-client.js';
import type { Lease, LeaseEvent } from './subnet/lease.js';
import type { PreviousLease } from './subnet/subnet-env.js';
import type { TrafficCounters } from './trafficmngr/traffic-manager.js';

export interface LeaseContext {
  readonly options: Options;
  readonly config: NetworkConfig;
  readonly extIface: ExternalInterface;
  readonly lease: Lease;
  readonly mtu: number;
  /** Network and subnet before this lease: the previous run's subnet.env, or the lease before a re-acquire. */
  readonly previous: PreviousLease;
  /** The backend's counters (datapath packets, drops, …), read when asked. */
  readonly backendCounters: () => Readonly<Record<string, number>>;
  /** The ip-masq/FORWARD rules' counters, read when asked. */
  readonly trafficCounters: () => TrafficCounters;
}

export interface HookMap {
  /** Lease held, backend started, ip-masq and FORWARD rules in place; subnet.env not written yet (upstream's order). */
  rulesInPlace: LeaseContext;
  /** subnet.env is written and the backend runs: sd_notify READY=1 and /readyz = 200 go here. */
  ready: LeaseContext & { readonly subnetFile: string };
  /** The lease had to be re-acquired (possibly another subnet); rules are redone and subnet.env is rewritten. */
  leaseChanged: LeaseContext;
  /** SIGTERM/SIGINT: stop timers and servers; leave kernel state and the lease in place. */
  stopping: Record<string, never>;
}

/** What the daemon reports as it happens, for counting. */
export interface NoticeMap {
  leaseRenewed: Lease;
  /** The lease had to be taken again after another writer took it; `changed` when it is another subnet now. */
  leaseReacquired: { readonly changed: boolean };
  /** The watcher's full list of peers (first list, re-list) or its incremental events. */
  peers: { readonly kind: 'reset'; readonly peers: readonly Lease[] } | { readonly kind: 'events'; readonly events: readonly LeaseEvent[] };
  etcdError: EtcdOperation;
  netlinkOperation: { readonly operation: string; readonly ok: boolean };
  /** Whether subnet.env holds the current lease: false after a failed write, true once a (re)try wrote it. */
  subnetFile: { readonly written: boolean };
}

export type HookName = keyof HookMap;
export type Hook<K extends HookName> = (ctx: HookMap[K]) => Promise<void> | void;
export type NoticeName = keyof NoticeMap;
export type Observer<K extends NoticeName> = (value: NoticeMap[K]) => void;

export class Lifecycle {
  private readonly hooks: { [K in HookName]: Array<Hook<K>> } = { rulesInPlace: [], ready: [], leaseChanged: [], stopping: [] };
  private readonly observers: { [K in NoticeName]: Array<Observer<K>> } = { leaseRenewed: [], leaseReacquired: [], peers: [], etcdError: [], netlinkOperation: [],
    subnetFile: [] };

  on<K extends HookName>(name: K, hook: Hook<K>): this {
    (this.hooks[name] as Array<Hook<K>>).push(hook);
    return this;
  }

  async run<K extends HookName>(name: K, ctx: HookMap[K]): Promise<void> {
    for (const hook of this.hooks[name] as Array<Hook<K>>) await hook(ctx);
  }

  observe<K extends NoticeName>(name: K, observer: Observer<K>): this {
    (this.observers[name] as Array<Observer<K>>).push(observer);
    return this;
  }

  notify<K extends NoticeName>(name: K, value: NoticeMap[K]): void {
    for (const observer of this.observers[name] as Array<Observer<K>>) {
      try {
        observer(value);
      } catch {
        // counting is best effort: a failing observer never changes the daemon's handling
      }
    }
  }
}

/**
 * Parts that join the daemon's flow (health server, sd_notify, metrics, …) add an attach function here; each one
 * receives the options and the lifecycle before the daemon starts.
 */
export type DaemonExtension = (lifecycle: Lifecycle, options: Options) => void;
