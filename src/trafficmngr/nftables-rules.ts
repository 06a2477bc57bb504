// Upstream's nftables variant (EnableNFTables, flannel-compat §8): table `flannel-ipv4` (family ip) with a nat
// chain `postrtg` and a filter chain `forward`. Pure: returns `nft -f` scripts.
import { formatCidr, type Ipv4Net } from '../net/ipv4.js';

export const NFT_TABLE_V4 = 'flannel-ipv4';

function tableAndChain(chain: string, decl: string): string {
  return `add table ip ${NFT_TABLE_V4} { comment "rules for ${NFT_TABLE_V4}" ; }\n`
    + `add chain ip ${NFT_TABLE_V4} ${chain} { ${decl} ; }\n`
    + `flush chain ip ${NFT_TABLE_V4} ${chain}\n`;
}

/** Masquerade rules; the chain is flushed and refilled so re-applying is idempotent. */
export function nftMasqScript(network: Ipv4Net, subnet: Ipv4Net, opts: { randomFully: boolean }): string {
  const n = formatCidr(network);
  const s = formatCidr(subnet);
  const masq = opts.randomFully ? 'masquerade fully-random' : 'masquerade';
  const add = (rule: string): string => `add rule ip ${NFT_TABLE_V4} postrtg ${rule}\n`;
  return tableAndChain('postrtg', 'type nat hook postrouting priority srcnat')
    + add('meta mark 0x4000 return')
    + add(`ip saddr ${s} ip daddr ${n} return`)
    + add(`ip saddr ${n} ip daddr ${s} return`)
    // Upstream's nftables code has `saddr != S daddr N` here where iptables has `! -s N -d S`; kept as upstream.
    + add(`ip saddr != ${s} ip daddr ${n} return`)
    + add(`ip saddr ${n} ip daddr != 224.0.0.0/4 ${masq}`)
    + add(`ip saddr != ${n} ip daddr ${n} ${masq}`);
}

export function nftForwardScript(network: Ipv4Net): string {
  const n = formatCidr(network);
  return tableAndChain('forward', 'type filter hook forward priority filter')
    + `add rule ip ${NFT_TABLE_V4} forward ip saddr ${n} accept\n`
    + `add rule ip ${NFT_TABLE_V4} forward ip daddr ${n} accept\n`;
}
