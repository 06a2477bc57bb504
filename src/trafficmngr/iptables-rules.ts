// Upstream's ip-masq and FORWARD rules (flannel-compat §8), as data: which table, which chain, which rule
// spec. Pure: rendering for iptables-restore and parsing iptables-save output live here too, so the exact rule
// text is unit-tested apart from the commands that apply it.
import { formatCidr, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, type Ipv6Net } from '../net/ipv6.js';

export type IptablesTable = 'nat' | 'filter';

export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  /** The rule after `-A <chain>`, one argument per element, exactly as iptables-save prints it. */
  readonly spec: readonly string[];
}

export const POSTRTG_CHAIN = 'FLANNEL-POSTRTG';
export const FORWARD_CHAIN = 'FLANNEL-FWD';
/** kube-proxy's masquerade mark: such packets are left to kube-proxy (avoids double NAT). */
export const KUBE_PROXY_MARK = '0x4000/0x4000';
const MULTICAST = '224.0.0.0/4';
const MULTICAST6 = 'ff00::/8';
const MASQ_COMMENT = ['-m', 'comment', '--comment', 'flanneld masq'];
const FWD_COMMENT = ['-m', 'comment', '--comment', 'flanneld forward'];

export interface MasqOptions {
  /** iptables supports --random-fully and --ip-masq-fully-random-disable is not set. */
  readonly randomFully: boolean;
}

/** nat rules for --ip-masq: N = the flannel Network, S = our own subnet. */
export function masqRules(network: Ipv4Net, subnet: Ipv4Net, opts: MasqOptions): IptablesRule[] {
  return masqRulesOf(formatCidr(network), formatCidr(subnet), MULTICAST, opts);
}

/** The same for ip6tables in a dual-stack network: IPv6Network, our IPv6 subnet, ff00::/8 (as upstream). */
export function masqRules6(network: Ipv6Net, subnet: Ipv6Net, opts: MasqOptions): IptablesRule[] {
  return masqRulesOf(formatCidr6(network), formatCidr6(subnet), MULTICAST6, opts);
}

function masqRulesOf(n: string, s: string, multicast: string, opts: MasqOptions): IptablesRule[] {
  const masq = opts.randomFully ? ['-j', 'MASQUERADE', '--random-fully'] : ['-j', 'MASQUERADE'];
  const rule = (chain: string, spec: string[]): IptablesRule => ({ table: 'nat', chain, spec });
  return [
    // Jump first so flannel's rules see the traffic before other POSTROUTING rules.
    rule('POSTROUTING', [...MASQ_COMMENT, '-j', POSTRTG_CHAIN]),
    rule(POSTRTG_CHAIN, ['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...MASQ_COMMENT, '-j', 'RETURN']),
    // No NAT inside the overlay.
    rule(POSTRTG_CHAIN, ['-s', s, '-d', n, ...MASQ_COMMENT, '-j', 'RETURN']),
    rule(POSTRTG_CHAIN, ['-s', n, '-d', s, ...MASQ_COMMENT, '-j', 'RETURN']),
    // External traffic arriving for our own containers keeps its source.
    rule(POSTRTG_CHAIN, ['!', '-s', n, '-d', s, ...MASQ_COMMENT, '-j', 'RETURN']),
    // Containers leaving the overlay (except multicast), and the host talking into the overlay.
    rule(POSTRTG_CHAIN, ['-s', n, '!', '-d', multicast, ...MASQ_COMMENT, ...masq]),
    rule(POSTRTG_CHAIN, ['!', '-s', n, '-d', n, ...MASQ_COMMENT, ...masq]),
  ];
}

/** filter rules for --iptables-forward-rules: accept forwarding to and from the flannel Network. */
export function forwardRules(network: Ipv4Net | Ipv6Net): IptablesRule[] {
  const n = typeof network.ip === 'bigint' ? formatCidr6(network as Ipv6Net) : formatCidr(network as Ipv4Net);
  return [
    { table: 'filter', chain: 'FORWARD', spec: [...FWD_COMMENT, '-j', FORWARD_CHAIN] },
    { table: 'filter', chain: FORWARD_CHAIN, spec: ['-s', n, ...FWD_COMMENT, '-j', 'ACCEPT'] },
    { table: 'filter', chain: FORWARD_CHAIN, spec: ['-d', n, ...FWD_COMMENT, '-j', 'ACCEPT'] },
  ];
}

/** The flannel chains a rule set needs to exist (its own chains, not the built-in ones). */
export function ownChains(rules: readonly IptablesRule[]): Array<{ table: IptablesTable; chain: string }> {
  const seen = new Map<string, { table: IptablesTable; chain: string }>();
  for (const r of rules) {
    if (r.chain === POSTRTG_CHAIN || r.chain === FORWARD_CHAIN) seen.set(`${r.table} ${r.chain}`, { table: r.table, chain: r.chain });
  }
  return [...seen.values()];
}

/** Quotes an argument the way iptables-save does (double quotes around anything with blanks or quotes). */
export function quoteArg(arg: string): string {
  return /^[^\s"'\\]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/** `-A CHAIN spec…` as iptables-save prints it. */
export function ruleLine(rule: IptablesRule, action: '-A' | '-D' = '-A'): string {
  return [action, rule.chain, ...rule.spec].map(quoteArg).join(' ');
}

/**
 * iptables-restore input (to be used with --noflush) that deletes the given `present` copies and appends
 * `rules` in order, so the set ends up contiguous and ordered even when some rules already existed.
 */
export function restoreInput(rules: readonly IptablesRule[], present: readonly IptablesRule[]): string {
  const tables: IptablesTable[] = [];
  for (const r of [...present, ...rules]) if (!tables.includes(r.table)) tables.push(r.table);
  let out = '';
  for (const table of tables) {
    out += `*${table}\n`;
    for (const r of present) if (r.table === table) out += `${ruleLine(r, '-D')}\n`;
    for (const r of rules) if (r.table === table) out += `${ruleLine(r)}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

/** Restore input that deletes only the given rules (for the previous Network/subnet's set). */
export function deleteInput(present: readonly IptablesRule[]): string {
  return restoreInput([], present);
}

/** Splits an iptables-save line into arguments (double quotes with backslash escapes). */
export function splitSaveLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inArg = true;
    } else if (/\s/.test(c)) {
      if (inArg) out.push(cur);
      cur = '';
      inArg = false;
    } else {
      cur += c;
      inArg = true;
    }
  }
  if (inArg) out.push(cur);
  return out;
}

/** Every `-A` rule of an iptables-save dump, with its table. */
export function parseSave(save: string): IptablesRule[] {
  const rules: IptablesRule[] = [];
  let table: IptablesTable | null = null;
  for (const raw of save.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const t = line.slice(1);
      table = t === 'nat' || t === 'filter' ? t : null;
    } else if (table !== null && line.startsWith('-A ')) {
      const args = splitSaveLine(line);
      rules.push({ table, chain: args[1] as string, spec: args.slice(2) });
    }
  }
  return rules;
}

export function sameRule(a: IptablesRule, b: IptablesRule): boolean {
  return a.table === b.table && a.chain === b.chain && a.spec.length === b.spec.length && a.spec.every((x, i) => x === b.spec[i]);
}

/** Those of `wanted` that `existing` lacks. */
export function missingRules(wanted: readonly IptablesRule[], existing: readonly IptablesRule[]): IptablesRule[] {
  return wanted.filter((w) => !existing.some((e) => sameRule(w, e)));
}

/** Those of `wanted` already in `existing`, once per copy (restore must delete each before re-adding). */
export function presentRules(wanted: readonly IptablesRule[], existing: readonly IptablesRule[]): IptablesRule[] {
  return existing.filter((e) => wanted.some((w) => sameRule(w, e)));
}

/** `iptables v1.8.9 (nf_tables)` → [1, 8, 9]; null when unrecognised. */
export function parseIptablesVersion(text: string): [number, number, number] | null {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** --random-fully and `iptables-restore --wait` both arrived in iptables 1.6.2. */
export function atLeast162(v: readonly [number, number, number] | null): boolean {
  if (v === null) return false;
  const [a, b, c] = v;
  return a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)));
}
