// The `leftovers` check of `tsflanneld doctor`: devices and proto-84 routes that another backend left on this host
// (a restart into host-gw keeps vxlan's flannel.1; a restart into vxlan keeps host-gw's `<subnet> via <PublicIP>`
// routes, which bypass VXLAN). The same rule the daemon applies at start (findLeftovers), here only reported, each
// with the command that removes it. Pure: facts in, a CheckResult out.
import type { BackendClaims } from '../backend/backend.js';
import { isOwnedHostGwRoute, HOSTGW_BACKEND_TYPE } from '../backend/hostgw/lease-routes.js';
import { findLeftovers } from '../backend/kit/leftovers.js';
import { parseVxlanConfig, vxlanDeviceName } from '../backend/vxlan/config.js';
import { vxlanV6DeviceName } from '../backend/vxlan/kernel-v6.js';
import type { NetworkConfig } from '../config/network-config.js';
import { formatCidr, formatIPv4 } from '../net/ipv4.js';
import type { LinkInfo } from '../netlink/links.js';
import { TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute } from '../netlink/routes.js';
import type { CheckResult } from './doctor-checks.js';

/** The host's links and main-table IPv4 routes, as a netlink dump gives them. */
export interface KernelFacts {
  /** mtu: absent in facts that do not need it (the leftovers check does not). */
  readonly links: readonly (Pick<LinkInfo, 'index' | 'name' | 'kind'> & { readonly mtu?: number })[];
  readonly routes: readonly KernelRoute[];
}

/** What a backend of `type` owns on this host: the same claims the running backends make. */
export function claimsOf(backendType: string, config: NetworkConfig, extIndex: number | null): BackendClaims {
  const type = backendType.toLowerCase();
  if (type === 'vxlan') {
    const { vni } = parseVxlanConfig(config.backend.raw);
    // The running backend's claims: flannel.<VNI> unless IPv6-only, flannel-v6.<VNI> with EnableIPv6.
    const devices = [...(config.enableIPv4 ? [vxlanDeviceName(vni)] : []), ...(config.ipv6 ? [vxlanV6DeviceName(vni)] : [])];
    return { devices, ownsRoute: () => false };
  }
  if (type === HOSTGW_BACKEND_TYPE) {
    return { devices: [], ownsRoute: (r) => extIndex !== null && isOwnedHostGwRoute(r, config.network, extIndex) };
  }
  return { devices: [], ownsRoute: () => false };
}

function deleteRouteCommand(r: KernelRoute, nameOf: (index: number) => string | undefined): string {
  let cmd = `ip route del ${formatCidr(r.dst)}`;
  if (r.gateway !== null) cmd += ` via ${formatIPv4(r.gateway)}`;
  const dev = r.oif !== null ? nameOf(r.oif) : undefined;
  if (dev !== undefined) cmd += ` dev ${dev}`;
  return `${cmd} proto ${TSFLANNELD_ROUTE_PROTOCOL}`;
}

export function checkLeftovers(type: string | null, config: NetworkConfig | null, extIndex: number | null,
  kernel: KernelFacts | null): CheckResult {
  const id = 'leftovers';
  if (kernel === null) return { id, status: 'skip', detail: 'cannot list this host\'s links and routes' };
  if (config === null || type === null) return { id, status: 'skip', detail: 'no network config to tell which backend owns what' };
  let claims: BackendClaims;
  try {
    claims = claimsOf(type, config, extIndex);
  } catch (e) {
    return { id, status: 'skip', detail: `the Backend config is invalid: ${(e as Error).message}` };
  }
  const found = findLeftovers(kernel.links, kernel.routes, claims, config.network);
  if (found.devices.length === 0 && found.routes.length === 0) {
    return { id, status: 'ok', detail: `no device or route of another backend (backend ${type})` };
  }
  const nameOf = (index: number): string | undefined => kernel.links.find((l) => l.index === index)?.name;
  const items = [...found.devices.map((d) => `device ${d.name}${d.kind !== null ? ` (${d.kind})` : ''}`),
    ...found.routes.map((r) => `route ${deleteRouteCommand(r, nameOf).replace(/^ip route del /, '')}`)];
  const commands = [...found.devices.map((d) => `ip link delete ${d.name}`), ...found.routes.map((r) => deleteRouteCommand(r, nameOf))];
  return { id, status: 'warn',
    detail: `left by another backend (the config says ${type}): ${items.join('; ')}`,
    fix: `${commands.join(' && ')}  (tsflanneld also removes them when it starts)` };
}
