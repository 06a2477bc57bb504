// --ip-masq, --iptables-forward-rules and --ip-blackhole-route as upstream applies them (flannel-compat §8):
// iptables by default, nftables when the network config has EnableNFTables. The manager not in use is cleaned
// at start; the iptables rules are rechecked every --iptables-resync seconds; nothing is removed on exit.
import { log as rootLog, type Logger } from '../log.js';
import { formatCidr, netsEqual, type Ipv4Net } from '../net/ipv4.js';
import { blackholeRouteSpec, replaceRoute } from '../netlink/routes.js';
import { commandRunner, describeFailure, type CommandRunner } from './exec.js';
import { IptablesApplier } from './iptables.js';
import { forwardRules, masqRules, type IptablesRule } from './iptables-rules.js';
import { NFT_TABLE_V4, nftForwardScript, nftMasqScript } from './nftables-rules.js';

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
  readonly network: Ipv4Net;
  readonly subnet: Ipv4Net;
  /** FLANNEL_NETWORK / FLANNEL_SUBNET of the previous subnet.env (host bits masked), when there was one. */
  readonly prevNetwork: Ipv4Net | null;
  readonly prevSubnet: Ipv4Net | null;
}

export interface TrafficCounters {
  /** Times a rule set was (re)built, the first apply included. */
  readonly rebuilds: number;
  readonly errors: number;
}

export class TrafficManager {
  private readonly iptables: IptablesApplier;
  private timer: NodeJS.Timeout | null = null;
  private rebuilds = 0;
  private errors = 0;
  private inPlace = false;

  constructor(
    private readonly opts: TrafficOptions,
    private readonly run: CommandRunner = commandRunner(),
    private readonly log: Logger = rootLog.child({ component: 'trafficmngr' }),
  ) {
    this.iptables = new IptablesApplier(run, this.log);
  }

  /** True once the first apply finished (what /readyz waits for). */
  get rulesInPlace(): boolean {
    return this.inPlace;
  }

  counters(): TrafficCounters {
    return { rebuilds: this.rebuilds, errors: this.errors };
  }

  /**
   * Cleans the other manager, removes a previous Network/subnet's masquerade rules, applies the rule sets and
   * starts the resync; called again after a re-acquire (stopping the previous resync). Resolves when the rules are in place; rejects (one-line message) when they cannot be applied.
   */
  async start(state: TrafficState): Promise<void> {
    this.stop(); // a re-acquired lease starts again with the new subnet
    // Cleaning the manager not in use is best effort: its tool may not even be installed.
    if (this.opts.nftables) await this.iptables.cleanup().catch((err: Error) => this.log.warn({ err: err.message }, 'cannot clean the iptables chains'));
    else await this.deleteNftTable();
    const sets = await this.ruleSets(state);
    if (this.opts.nftables) {
      await this.applyNft(state);
    } else {
      await this.removePrevious(state);
      for (const rules of sets) await this.rebuild(rules);
    }
    await this.ensureBlackhole(state.subnet);
    this.inPlace = true;
    if (this.opts.resyncSeconds > 0 && (sets.length > 0 || this.opts.blackholeRoute)) {
      this.timer = setInterval(() => void this.resync(state, sets), this.opts.resyncSeconds * 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One resync round: rebuild each iptables set that lost a rule; re-add the blackhole route. */
  async resync(state: TrafficState, sets?: IptablesRule[][]): Promise<void> {
    try {
      if (!this.opts.nftables) {
        for (const rules of sets ?? await this.ruleSets(state)) {
          const missing = await this.iptables.missing(rules);
          if (missing.length === 0) continue;
          this.log.info({ missing: missing.length }, 'iptables rules missing, rebuilding the flannel rule set');
          await this.rebuild(rules);
        }
      }
      await this.ensureBlackhole(state.subnet);
    } catch (err) {
      this.errors++;
      this.log.warn({ err: (err as Error).message }, 'iptables resync failed');
    }
  }

  private async ruleSets(state: TrafficState): Promise<IptablesRule[][]> {
    if (this.opts.nftables) return [];
    const sets: IptablesRule[][] = [];
    if (this.opts.ipMasq) sets.push(masqRules(state.network, state.subnet, { randomFully: await this.randomFully() }));
    if (this.opts.forwardRules) sets.push(forwardRules(state.network));
    return sets;
  }

  private async randomFully(): Promise<boolean> {
    if (this.opts.fullyRandomDisabled) return false;
    return (await this.iptables.featuresCached()).randomFully;
  }

  private async rebuild(rules: IptablesRule[]): Promise<void> {
    try {
      await this.iptables.build(rules);
      this.rebuilds++;
      } catch (err) {
      this.errors++;
      throw err;
    }
  }

  private async removePrevious(state: TrafficState): Promise<void> {
    if (!this.opts.ipMasq) return;
    const { prevNetwork, prevSubnet } = state;
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

  private async applyNft(state: TrafficState): Promise<void> {
    let script = '';
    if (this.opts.ipMasq) script += nftMasqScript(state.network, state.subnet, { randomFully: !this.opts.fullyRandomDisabled });
    if (this.opts.forwardRules) script += nftForwardScript(state.network);
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
    const list = await this.run(['nft', 'list', 'table', 'ip', NFT_TABLE_V4]);
    if (list.code !== 0) return; // no table (or no nft at all): nothing to clean
    const argv = ['nft', 'delete', 'table', 'ip', NFT_TABLE_V4];
    const r = await this.run(argv);
    if (r.code !== 0) this.log.warn({ err: describeFailure(argv, r) }, 'cannot delete the nftables table');
  }

  /**
   * --ip-blackhole-route: own-subnet traffic that no other route takes (the bridge is down or not there yet) is
   * dropped rather than sent out by the default route. Replaced at every resync, in case someone deleted it.
   */
  private async ensureBlackhole(subnet: Ipv4Net): Promise<void> {
    if (!this.opts.blackholeRoute) return;
    try {
      await replaceRoute(blackholeRouteSpec(subnet));
    } catch (err) {
      this.log.warn({ subnet: formatCidr(subnet), err: (err as Error).message }, 'cannot add the blackhole route');
    }
  }
}
