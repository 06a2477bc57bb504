// The udp backend's keys of the network config's Backend object, and its device facts (flannel-compat §7). Pure.
// Upstream reads only Port (default 8285); every node must use the same one, since a node sends to its own
// configured port on every peer.

/** Outer IPv4 (20) + UDP (8): all a udp datagram adds to the packet it carries. */
export const UDP_ENCAP_OVERHEAD = 28;
export const DEFAULT_UDP_PORT = 8285;
/** The TUN upstream opens as `flannel%d`: the first one on a host is flannel0. */
export const UDP_DEVICE_NAME = 'flannel0';
const MIN_IPV4_MTU = 68;

export interface UdpConfig {
  readonly port: number;
}

export class UdpConfigError extends Error {
  override readonly name = 'UdpConfigError';
}

/** Names match case-insensitively and the last duplicate wins, as in Go's encoding/json; other keys are ignored. */
export function parseUdpConfig(backend: Readonly<Record<string, unknown>>): UdpConfig {
  let port: unknown;
  for (const [key, value] of Object.entries(backend)) if (key.toLowerCase() === 'port' && value !== null) port = value;
  if (port === undefined || port === 0) return { port: DEFAULT_UDP_PORT };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UdpConfigError(`invalid Backend.Port ${JSON.stringify(port)} in the network config: use a UDP port`
      + ` 1..65535 (the same on every node), or leave it out for ${DEFAULT_UDP_PORT}`);
  }
  return { port };
}

/** The TUN's MTU and FLANNEL_MTU: the external interface's MTU − 28; refuses an underlay too small for IPv4. */
export function udpDeviceMtu(extIfaceMtu: number): number {
  const mtu = extIfaceMtu - UDP_ENCAP_OVERHEAD;
  if (mtu < MIN_IPV4_MTU) {
    throw new UdpConfigError(`external interface MTU ${extIfaceMtu} leaves ${mtu} for flannel0: the udp backend needs`
      + ` an underlay MTU of at least ${MIN_IPV4_MTU + UDP_ENCAP_OVERHEAD}`);
  }
  return mtu;
}
