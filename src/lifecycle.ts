// Named points in the daemon's flow where other parts attach (ip-masq rules, sd_notify READY, /readyz, metrics)
// without the daemon knowing them. Hooks run in the order they were attached and are awaited one by one.
import type { ExternalInterface } from './net/external-interface.js';
import type { NetworkConfig } from './config/network-config.js';
import type { Options } from './options.js';
import type { Lease } from './subnet/lease.js';

export interface LeaseContext {
  readonly options: Options;
  readonly config: NetworkConfig;
  readonly extIface: ExternalInterface;
  readonly lease: Lease;
  readonly mtu: number;
}

export interface HookMap {
  /** Lease held and backend started, before subnet.env is written: ip-masq and FORWARD rules go here (upstream's order). */
  trafficRules: LeaseContext;
  /** subnet.env is written and the backend runs: sd_notify READY=1 and /readyz = 200 go here. */
  ready: LeaseContext & { readonly subnetFile: string };
  /** The lease had to be re-acquired (possibly another subnet); subnet.env is already rewritten. */
  leaseChanged: LeaseContext;
  /** SIGTERM/SIGINT: stop timers and servers; leave kernel state and the lease in place. */
  stopping: Record<string, never>;
}

export type HookName = keyof HookMap;
export type Hook<K extends HookName> = (ctx: HookMap[K]) => Promise<void> | void;

export class Lifecycle {
  private readonly hooks: { [K in HookName]: Array<Hook<K>> } = { trafficRules: [], ready: [], leaseChanged: [], stopping: [] };

  on<K extends HookName>(name: K, hook: Hook<K>): this {
    (this.hooks[name] as Array<Hook<K>>).push(hook);
    return this;
  }

  async run<K extends HookName>(name: K, ctx: HookMap[K]): Promise<void> {
    for (const hook of this.hooks[name] as Array<Hook<K>>) await hook(ctx);
  }
}

/**
 * Parts that join the daemon's flow (ip-masq, health server, sd_notify, …) add an attach function here; each one
 * receives the options and the lifecycle before the daemon starts.
 */
export type DaemonExtension = (lifecycle: Lifecycle, options: Options) => void;
