// Applies upstream's iptables rule sets with iptables-restore --noflush and keeps them in place: every resync
// period the rules are looked up in iptables-save output and the whole set is rebuilt when any is missing.
import type { Logger } from '../log.js';
import type { CommandRunner } from './exec.js';
import { describeFailure } from './exec.js';
import {
  atLeast162, deleteInput, missingRules, ownChains, parseIptablesVersion, parseSave, presentRules, restoreInput,
  FORWARD_CHAIN, POSTRTG_CHAIN, type IptablesRule, type IptablesTable,
} from './iptables-rules.js';

export interface IptablesFeatures {
  readonly randomFully: boolean;
  readonly restoreWait: boolean;
  /** iptables-nft (it writes through nf_tables, whose changes the kernel announces), not iptables-legacy. */
  readonly nfTables: boolean;
}

export class IptablesApplier {
  private queue: Promise<unknown> = Promise.resolve();

  /** `iptables` or, for the IPv6 rules of a dual-stack network, `ip6tables` (and their -save/-restore). */
  private readonly tool: 'iptables' | 'ip6tables';

  constructor(private readonly run: CommandRunner, private readonly log: Logger, family: 4 | 6 = 4) {
    this.tool = family === 6 ? 'ip6tables' : 'iptables';
  }

  async features(): Promise<IptablesFeatures> {
    const r = await this.run([this.tool, '--version']);
    const ok = r.code === 0 && atLeast162(parseIptablesVersion(r.stdout));
    return { randomFully: ok, restoreWait: ok, nfTables: r.code === 0 && /\(nf_tables\)/.test(r.stdout) };
  }

  /** All rules of the given tables as iptables-save prints them, plus the chains that exist. */
  async snapshot(tables: readonly IptablesTable[]): Promise<{ rules: IptablesRule[]; chains: Set<string> }> {
    const rules: IptablesRule[] = [];
    const chains = new Set<string>();
    for (const table of tables) {
      const argv = [`${this.tool}-save`, '-t', table];
      const r = await this.run(argv);
      if (r.code !== 0) throw new Error(describeFailure(argv, r));
      rules.push(...parseSave(r.stdout));
      for (const line of r.stdout.split('\n')) {
        const m = /^:(\S+)/.exec(line);
        if (m) chains.add(`${table} ${m[1]}`);
      }
    }
    return { rules, chains };
  }

  /** Deletes present copies and appends the set in order (upstream's clean-and-build). Serialised. */
  build(rules: readonly IptablesRule[]): Promise<void> {
    return this.serialise(async () => {
      // Another writer (a second flanneld, kube-proxy, an operator) may change the tables between our snapshot and
      // the restore; one fresh attempt settles that race, a second failure is real.
      try {
        await this.buildOnce(rules);
      } catch {
        await this.buildOnce(rules);
      }
    });
  }

  private async buildOnce(rules: readonly IptablesRule[]): Promise<void> {
    const tables = [...new Set(rules.map((r) => r.table))];
    const { rules: existing, chains } = await this.snapshot(tables);
    for (const { table, chain } of ownChains(rules)) {
      if (chains.has(`${table} ${chain}`)) continue;
      const argv = [this.tool, '-w', '-t', table, '-N', chain];
      const r = await this.run(argv);
      if (r.code !== 0 && !/already exists/i.test(r.stderr)) throw new Error(describeFailure(argv, r));
    }
    await this.restore(restoreInput(rules, presentRules(rules, existing)));
  }

  /** Rules of `rules` that are not in the kernel. */
  async missing(rules: readonly IptablesRule[]): Promise<IptablesRule[]> {
    const { rules: existing } = await this.snapshot([...new Set(rules.map((r) => r.table))]);
    return missingRules(rules, existing);
  }

  /** Deletes whichever of `rules` exist (the previous Network/subnet's set). */
  remove(rules: readonly IptablesRule[]): Promise<void> {
    return this.serialise(async () => {
      const { rules: existing } = await this.snapshot([...new Set(rules.map((r) => r.table))]);
      const present = presentRules(rules, existing);
      if (present.length > 0) await this.restore(deleteInput(present));
    });
  }

  /** For nftables mode: removes the jumps to flannel's chains, then the chains themselves. */
  cleanup(): Promise<void> {
    return this.serialise(async () => {
      const owned: Array<[IptablesTable, string, string]> = [['nat', 'POSTROUTING', POSTRTG_CHAIN], ['filter', 'FORWARD', FORWARD_CHAIN]];
      for (const [table, parent, chain] of owned) {
        const { rules, chains } = await this.snapshot([table]);
        if (!chains.has(`${table} ${chain}`)) continue;
        const jumps = rules.filter((r) => r.chain === parent && r.spec.at(-1) === chain && r.spec.at(-2) === '-j');
        if (jumps.length > 0) await this.restore(deleteInput(jumps));
        for (const op of ['-F', '-X']) {
          const argv = [this.tool, '-w', '-t', table, op, chain];
          const r = await this.run(argv);
          if (r.code !== 0) this.log.warn({ cmd: argv.join(' '), err: r.stderr.trim() }, 'cannot remove iptables chain');
        }
      }
    });
  }

  private async restore(input: string): Promise<void> {
    const feats = await this.featuresCached();
    const argv = [`${this.tool}-restore`, '--noflush', ...(feats.restoreWait ? ['--wait'] : [])];
    const r = await this.run(argv, input);
    if (r.code !== 0) throw new Error(`${describeFailure(argv, r)} (input:\n${input})`);
  }

  private cachedFeatures: Promise<IptablesFeatures> | null = null;

  featuresCached(): Promise<IptablesFeatures> {
    this.cachedFeatures ??= this.features();
    return this.cachedFeatures;
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
