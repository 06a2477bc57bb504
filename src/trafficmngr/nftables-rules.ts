// Upstream's nftables variant (EnableNFTables, flannel-compat §8): table `flannel-ipv4` (family ip) and, in a
// dual-stack network, `flannel-ipv6` (family ip6), each with a nat chain `postrtg` and a filter chain `forward`.
// Pure: returns `nft -f` scripts.
import { formatCidr, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, type Ipv6Net } from '../net/ipv6.js';

export const NFT_TABLE_V4 = 'flannel-ipv4';
export const NFT_TABLE_V6 = 'flannel-ipv6';

/** What differs between the two tables: nft family (also the match keyword), table name, multicast range. */
interface NftFamily {
  readonly family: 'ip' | 'ip6';
  readonly table: string;
  readonly multicast: string;
}

const V4: NftFamily = { family: 'ip', table: NFT_TABLE_V4, multicast: '224.0.0.0/4' };
const V6: NftFamily = { family: 'ip6', table: NFT_TABLE_V6, multicast: 'ff00::/8' };

function tableAndChain(f: NftFamily, chain: string, decl: string): string {
  return `add table ${f.family} ${f.table} { comment "rules for ${f.table}" ; }\n`
    + `add chain ${f.family} ${f.table} ${chain} { ${decl} ; }\n`
    + `flush chain ${f.family} ${f.table} ${chain}\n`;
}

function masqScript(f: NftFamily, n: string, s: string, randomFully: boolean): string {
  const masq = randomFully ? 'masquerade fully-random' : 'masquerade';
  const m = f.family;
  const add = (rule: string): string => `add rule ${f.family} ${f.table} postrtg ${rule}\n`;
  return tableAndChain(f, 'postrtg', 'type nat hook postrouting priority srcnat')
    + add('meta mark 0x4000 return')
    + add(`${m} saddr ${s} ${m} daddr ${n} return`)
    + add(`${m} saddr ${n} ${m} daddr ${s} return`)
    // Upstream's nftables code has `saddr != S daddr N` here where iptables has `! -s N -d S`; kept as upstream.
    + add(`${m} saddr != ${s} ${m} daddr ${n} return`)
    + add(`${m} saddr ${n} ${m} daddr != ${f.multicast} ${masq}`)
    + add(`${m} saddr != ${n} ${m} daddr ${n} ${masq}`);
}

function forwardScript(f: NftFamily, n: string): string {
  return tableAndChain(f, 'forward', 'type filter hook forward priority filter')
    + `add rule ${f.family} ${f.table} forward ${f.family} saddr ${n} accept\n`
    + `add rule ${f.family} ${f.table} forward ${f.family} daddr ${n} accept\n`;
}

/** Masquerade rules; the chain is flushed and refilled so re-applying is idempotent. */
export function nftMasqScript(network: Ipv4Net, subnet: Ipv4Net, opts: { randomFully: boolean }): string {
  return masqScript(V4, formatCidr(network), formatCidr(subnet), opts.randomFully);
}

export function nftForwardScript(network: Ipv4Net): string {
  return forwardScript(V4, formatCidr(network));
}

export function nftMasqScript6(network: Ipv6Net, subnet: Ipv6Net, opts: { randomFully: boolean }): string {
  return masqScript(V6, formatCidr6(network), formatCidr6(subnet), opts.randomFully);
}

export function nftForwardScript6(network: Ipv6Net): string {
  return forwardScript(V6, formatCidr6(network));
}

/** Pure: the tables `nft list tables` names, as "family name" ("ip flannel-ipv4"). */
export function listedNftTables(output: string): Set<string> {
  const tables = new Set<string>();
  for (const line of output.split('\n')) {
    const m = /^table\s+(\S+)\s+(\S+)/.exec(line.trim());
    if (m) tables.add(`${m[1]} ${m[2]}`);
  }
  return tables;
}
