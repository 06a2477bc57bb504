// The external interface as the rest of the daemon sees it: a plain record, chosen once at start.

/** The interface flannel traffic leaves by, as chosen from --iface / --iface-regex / --iface-can-reach / default route. */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** The interface's own IPv4 address (dotted quad). */
  readonly ifaceAddr: string;
  /** What peers send to: --public-ip when given, else ifaceAddr. */
  readonly extAddr: string;
  /** With EnableIPv6: the interface's first global IPv6 address, and what peers send to (--public-ipv6 or that). */
  readonly ifaceAddr6?: string | null;
  readonly extAddr6?: string | null;
}
