// --ip-masq, --iptables-forward-rules and --ip-blackhole-route as upstream applies them (flannel-compat §8):
// iptables by default, nftables when the network config has EnableNFTables. The manager not in use is cleaned
// at start; the iptables rules are rechecked when nf_tables announces a change, or every --iptables-resync seconds
// where it cannot (./resync-trigger.ts); nothing is removed on exit.
import { log as rootLog, type Logger } from '../log.js';
import { formatCidr, netsEqual, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, nets6Equal, type Ipv6Net } from '../net/ipv6.js';
import { blackholeRouteSpec, LOWEST_PRIORITY_METRIC, replaceRoute, RTN_BLACKHOLE } from '../netlink/routes.js';
import { replaceRoute6 } from '../netlink/routes6.js';
import { watchNetfilter } from '../netlink/netfilter-events.js';
import { commandRunner, describeFailure, type CommandResult, type CommandRunner } from './exec.js';
import { IptablesApplier } from './iptables.js';
import { forwardRules, masqRules, masqRules6, type IptablesRule } from './iptables-rules.js';
import { listedNftTables, NFT_TABLE_V4, NFT_TABLE_V6, nftForwardScript, nftForwardScript6, nftMasqScript, nftMasqScript6 } from './nftables-rules.js';
import { ResyncTrigger, type WatchFactory } from './resync-trigger.js';

/** With nf_tables changes watched, the rules are still looked at this often (or every period, if that is longer). */
const SAFETY_CHECK_MS = 60_000;
/** A burst of nf_tables changes is one look, this long after its first. */
const CHANGE_DEBOUNCE_MS = 100;

export interface TrafficOptions {
  /** Network config's EnableNFTables. */
  readonly nftables: boolean;
  /** --ip-masq */
  readonly ipMasq: boolean;
  /** --iptables-forward-rules (default true) */
  readonly forwardRules: boolean;
  /** --ip-masq-fully-random-disable */
  readonly fullyRandomDisabled: boolean;
  /** --iptables-resync, seconds (default 5) */
  readonly resyncSeconds: number;
  /** --ip-blackhole-route */
  readonly blackholeRoute: boolean;
}

export interface TrafficState {
  /** Null in an IPv6-only network (EnableIPv4 false): then no iptables/`ip flannel` rules and no IPv4 blackhole. */
  readonly network: Ipv4Net | null;
  readonly subnet: Ipv4Net | null;
  /** FLANNEL_NETWORK / FLANNEL_SUBNET of the previous subnet.env (host bits masked), when there was one. */
  readonly prevNetwork: Ipv4Net | null;
  readonly prevSubnet: Ipv4Net | null;
  /** With EnableIPv6: IPv6Network and our IPv6 subnet, for the ip6tables (or `ip6 flannel-ipv6`) twins. */
  readonly ipv6?: { readonly network: Ipv6Net; readonly subnet: Ipv6Net } | null;
  /** FLANNEL_IPV6_NETWORK / FLANNEL_IPV6_SUBNET of the previous subnet.env. */
  readonly prevIPv6?: { readonly network: Ipv6Net | null; readonly subnet: Ipv6Net | null } | null;
}

export interface TrafficCounters {
  /** Times a rule set was (re)built, the first apply included. */
  readonly rebuilds: number;
  readonly errors: number;
}

function sameNetwork(a: Ipv4Net | null, b: Ipv4Net | null): boolean {
  return a === null || b === null ? a === b : netsEqual(a, b);
}

export class TrafficManager {
  private readonly iptables: IptablesApplier;
  private readonly ip6tables: IptablesApplier;
  private timer: NodeJS.Timeout | null = null;
  private trigger: ResyncTrigger | null = null;
  private checksBefore = 0;
  private rebuilds = 0;
  private errors = 0;
  private inPlace = false;
  /** `nft list tables` begun by probe(), taken by the next clean-up. */
  private nftList: Promise<CommandResult> | null = null;
  /** prepare()'s work in progress, for the network it was begun with; taken by the next start(). */
  private prepared: { readonly network: Ipv4Net | null; readonly done: Promise<void> } | null = null;

  private readonly run: CommandRunner;
  /** How nf_tables changes are watched; null: never (then a look every period). */
  private readonly watch: WatchFactory | null;

  /**
   * `run` runs the tools (tests prefix `ip netns exec`); `watch` defaults to the kernel's nf_tables announcements
   * when the tools run in this process's own namespace (no `run` given), and to none otherwise.
   */
  constructor(
    private readonly opts: TrafficOptions,
    run?: CommandRunner,
    private readonly log: Logger = rootLog.child({ component: 'trafficmngr' }),
    watch?: WatchFactory | null,
  ) {
    this.run = run ?? commandRunner();
    this.watch = watch !== undefined ? watch : run === undefined ? watchNetfilter : null;
    this.iptables = new IptablesApplier(this.run, this.log);
    this.ip6tables = new IptablesApplier(this.run, this.log, 6);
  }

  /** True once the first apply finished (what /readyz waits for). */
  get rulesInPlace(): boolean {
    return this.inPlace;
  }

  counters(): TrafficCounters {
    return { rebuilds: this.rebuilds, errors: this.errors };
  }

  /** Looks at the iptables rules after the first apply (each forks iptables-save); not a status counter. */
  get checks(): number {
    return this.checksBefore + (this.trigger?.checks ?? 0);
  }

  /** True while the iptables rules are looked at on nf_tables changes rather than every period. */
  get watchingChanges(): boolean {
    return this.trigger?.watching ?? false;
  }

  /**
   * Starts the read-only tool runs the rules begin with (`iptables --version`, `nft list tables`), earliest of all:
   * they change nothing, so they may run while the network config's interface is still being looked for.
   */
  probe(): void {
    if (this.opts.nftables) return;
    void this.iptables.featuresCached().catch(() => undefined);
    this.nftList ??= this.run(['nft', 'list', 'tables']);
  }

  /**
   * Begins the work that needs only the IPv4 Network, not the lease: cleaning the manager not in use, the iptables
   * version probe and the forward rules. Called before the lease is acquired, so that these process runs overlap the
   * backend's set-up and the lease's etcd round trips; the next start() waits for it and fails with its error. The
   * promise says when it is done and never rejects.
   */
  prepare(network: Ipv4Net | null): Promise<void> {
    const done = this.networkPart(network);
    this.prepared = { network, done };
    return done.catch(() => undefined); // the error is start()'s to report
  }

  /**
   * Cleans the other manager, removes a previous Network/subnet's masquerade rules, applies the rule sets and
   * starts the resync; called again after a re-acquire (stopping the previous resync). Resolves when the rules are in place; rejects (one-line message) when they cannot be applied.
   */
  async start(state: TrafficState): Promise<void> {
    this.stop(); // a re-acquired lease starts again with the new subnet
    const prepared = this.prepared;
    this.prepared = null;
    if (prepared !== null && sameNetwork(prepared.network, state.network)) await prepared.done;
    else await this.networkPart(state.network);
    const sets = await this.ruleSets(state);
    const sets6 = this.ruleSets6(state);
    if (this.opts.nftables) {
      await this.applyNft(state);
    } else {
      await this.removePrevious(state);
      await this.removePrevious6(state);
      // The forward (filter) set is in place already: networkPart built it.
      for (const rules of sets) if (rules[0]?.table === 'nat') await this.rebuild(rules);
      for (const rules of sets6) await this.rebuild(rules, this.ip6tables);
    }
    await this.ensureBlackhole(state);
    this.inPlace = true;
    const periodMs = this.opts.resyncSeconds * 1000;
    if (periodMs <= 0) return;
    if (sets.length > 0 || sets6.length > 0) {
      const nfTables = this.watch !== null && (await this.iptables.featuresCached()).nfTables;
      this.trigger = new ResyncTrigger({ periodMs, safetyMs: Math.max(periodMs, SAFETY_CHECK_MS), debounceMs: CHANGE_DEBOUNCE_MS,
        watch: nfTables ? this.watch : null, check: () => this.checkRules(state, sets, sets6), log: this.log });
      this.trigger.start();
    }
    // A route deleted by hand announces nothing here; replacing it is one netlink message, no fork.
    if (this.opts.blackholeRoute) {
      this.timer = setInterval(() => void this.ensureBlackhole(state), periodMs);
      this.timer.unref();
    }
  }

  /** prepare()'s work, begun there or by start(). */
  private async networkPart(network: Ipv4Net | null): Promise<void> {
    // Each program run is a process start: the read-only `iptables --version` (cached for the restore) runs beside
    // the clean-up's `nft list` probes instead of after them.
    if (!this.opts.nftables) void this.iptables.featuresCached().catch(() => undefined);
    // Cleaning the manager not in use is best effort: its tool may not even be installed.
    if (this.opts.nftables) {
      await this.iptables.cleanup().catch((err: Error) => this.log.warn({ err: err.message }, 'cannot clean the iptables chains'));
      return;
    }
    // nftables' own table and iptables' filter table are separate kernel objects, each changed in one atomic batch:
    // the forward rules' save and restore need not wait for the nft clean-up's list and delete.
    const cleaned = this.deleteNftTable();
    const forward = this.opts.forwardRules && network !== null ? this.rebuild(forwardRules(network)) : Promise.resolve();
    const [clean, built] = await Promise.allSettled([cleaned, forward]);
    if (clean.status === 'rejected') this.log.warn({ err: (clean.reason as Error).message }, 'cannot clean the nftables tables');
    if (built.status === 'rejected') throw built.reason;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.checksBefore += this.trigger?.checks ?? 0;
    this.trigger?.stop();
    this.trigger = null;
  }

  /** One resync round: rebuild each iptables set that lost a rule; re-add the blackhole route. */
  async resync(state: TrafficState, sets?: IptablesRule[][], sets6?: IptablesRule[][]): Promise<void> {
    await this.checkRules(state, sets, sets6);
    await this.ensureBlackhole(state);
  }

  /** Rebuilds each iptables set that lost a rule; true when one was rebuilt. Never rejects. */
  private async checkRules(state: TrafficState, sets?: IptablesRule[][], sets6?: IptablesRule[][]): Promise<boolean> {
    if (this.opts.nftables) return false;
    let rebuilt = false;
    try {
      const all: Array<[IptablesRule[], IptablesApplier]> = [
        ...(sets ?? await this.ruleSets(state)).map((r) => [r, this.iptables] as [IptablesRule[], IptablesApplier]),
        ...(sets6 ?? this.ruleSets6(state)).map((r) => [r, this.ip6tables] as [IptablesRule[], IptablesApplier])];
      for (const [rules, applier] of all) {
        const missing = await applier.missing(rules);
        if (missing.length === 0) continue;
        this.log.info({ missing: missing.length }, 'iptables rules missing, rebuilding the flannel rule set');
        rebuilt = true;
        await this.rebuild(rules, applier);
      }
    } catch (err) {
      this.errors++;
      this.log.warn({ err: (err as Error).message }, 'iptables resync failed');
    }
    return rebuilt;
  }

  private async ruleSets(state: TrafficState): Promise<IptablesRule[][]> {
    if (this.opts.nftables) return [];
    const sets: IptablesRule[][] = [];
    // Asked even without IPv4 rules: the ip6tables sets follow the same answer.
    const randomFully = this.opts.ipMasq ? await this.randomFully() : false;
    if (!state.network || !state.subnet) return sets;
    if (this.opts.ipMasq) sets.push(masqRules(state.network, state.subnet, { randomFully }));
    if (this.opts.forwardRules) sets.push(forwardRules(state.network));
    return sets;
  }

  /** ip6tables sets of a dual-stack network; random-fully as for IPv4 (ip6tables comes with iptables). */
  private ruleSets6(state: TrafficState): IptablesRule[][] {
    if (this.opts.nftables || !state.ipv6) return [];
    const sets: IptablesRule[][] = [];
    const randomFully = !this.opts.fullyRandomDisabled && this.randomFullyKnown;
    if (this.opts.ipMasq) sets.push(masqRules6(state.ipv6.network, state.ipv6.subnet, { randomFully }));
    if (this.opts.forwardRules) sets.push(forwardRules(state.ipv6.network));
    return sets;
  }

  private randomFullyKnown = false;

  private async randomFully(): Promise<boolean> {
    if (this.opts.fullyRandomDisabled) return false;
    this.randomFullyKnown = (await this.iptables.featuresCached()).randomFully;
    return this.randomFullyKnown;
  }

  private async rebuild(rules: IptablesRule[], applier = this.iptables): Promise<void> {
    try {
      await applier.build(rules);
      this.rebuilds++;
      } catch (err) {
      this.errors++;
      throw err;
    }
  }

  private async removePrevious(state: TrafficState): Promise<void> {
    if (!this.opts.ipMasq) return;
    const { prevNetwork, prevSubnet } = state;
    if (!state.network || !state.subnet) return;
    const networkChanged = prevNetwork !== null && !netsEqual(prevNetwork, state.network);
    const subnetChanged = prevSubnet !== null && !netsEqual(prevSubnet, state.subnet);
    if (!networkChanged && !subnetChanged) return;
    const oldNetwork = prevNetwork ?? state.network;
    const oldSubnet = prevSubnet ?? state.subnet;
    this.log.info({ network: formatCidr(state.network), subnet: formatCidr(state.subnet),
      prevNetwork: formatCidr(oldNetwork), prevSubnet: formatCidr(oldSubnet) },
    'network or subnet differs from the previous subnet.env, removing the old masquerade rules');
    const randomFully = await this.randomFully();
    // Both spellings of MASQUERADE, since the old rules may come from a run with other settings.
    await this.iptables.remove(masqRules(oldNetwork, oldSubnet, { randomFully }));
    await this.iptables.remove(masqRules(oldNetwork, oldSubnet, { randomFully: !randomFully }));
  }

  /** The IPv6 twin of removePrevious: the old ip6tables masquerade set of another IPv6Network or subnet goes. */
  private async removePrevious6(state: TrafficState): Promise<void> {
    const now = state.ipv6;
    const prev = state.prevIPv6;
    if (!this.opts.ipMasq || !now || !prev || (!prev.network && !prev.subnet)) return;
    const oldNetwork = prev.network ?? now.network;
    const oldSubnet = prev.subnet ?? now.subnet;
    if (nets6Equal(oldNetwork, now.network) && nets6Equal(oldSubnet, now.subnet)) return;
    this.log.info({ prevNetwork: formatCidr6(oldNetwork), prevSubnet: formatCidr6(oldSubnet) },
      'IPv6 network or subnet differs from the previous subnet.env, removing the old masquerade rules');
    for (const randomFully of [true, false]) await this.ip6tables.remove(masqRules6(oldNetwork, oldSubnet, { randomFully }));
  }

  private async applyNft(state: TrafficState): Promise<void> {
    let script = '';
    if (state.network && state.subnet) {
      if (this.opts.ipMasq) script += nftMasqScript(state.network, state.subnet, { randomFully: !this.opts.fullyRandomDisabled });
      if (this.opts.forwardRules) script += nftForwardScript(state.network);
    }
    if (state.ipv6) {
      const { network, subnet } = state.ipv6;
      if (this.opts.ipMasq) script += nftMasqScript6(network, subnet, { randomFully: !this.opts.fullyRandomDisabled });
      if (this.opts.forwardRules) script += nftForwardScript6(network);
    }
    if (script === '') return;
    const argv = ['nft', '-f', '-'];
    const r = await this.run(argv, script);
    if (r.code !== 0) {
      this.errors++;
      throw new Error(describeFailure(argv, r));
    }
    this.rebuilds++;
  }

  private async deleteNftTable(): Promise<void> {
    // One read-only probe for both tables (each program run is a process start on the way to subnet.env); the
    // deletes, rare, one after the other.
    const list = await (this.nftList ?? this.run(['nft', 'list', 'tables']));
    this.nftList = null;
    if (list.code !== 0) return; // no nft at all (or no nf_tables): nothing to clean
    const present = listedNftTables(list.stdout);
    for (const [family, table] of [['ip', NFT_TABLE_V4], ['ip6', NFT_TABLE_V6]] as const) {
      if (!present.has(`${family} ${table}`)) continue;
      const argv = ['nft', 'delete', 'table', family, table];
      const r = await this.run(argv);
      if (r.code !== 0) this.log.warn({ err: describeFailure(argv, r) }, 'cannot delete the nftables table');
    }
  }

  /**
   * --ip-blackhole-route: own-subnet traffic that no other route takes (the bridge is down or not there yet) is
   * dropped rather than sent out by the default route. Replaced at every resync, in case someone deleted it.
   */
  private async ensureBlackhole(state: TrafficState): Promise<void> {
    if (!this.opts.blackholeRoute) return;
    const subnet = state.subnet;
    if (subnet) {
      try {
        await replaceRoute(blackholeRouteSpec(subnet));
      } catch (err) {
        this.log.warn({ subnet: formatCidr(subnet), err: (err as Error).message }, 'cannot add the blackhole route');
      }
    }
    if (!state.ipv6) return;
    const subnet6 = state.ipv6.subnet;
    try {
      await replaceRoute6({ dst: subnet6, type: RTN_BLACKHOLE, priority: LOWEST_PRIORITY_METRIC });
    } catch (err) {
      this.log.warn({ subnet: formatCidr6(subnet6), err: (err as Error).message }, 'cannot add the blackhole route');
    }
  }
}
