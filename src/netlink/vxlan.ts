// VXLAN links: create with upstream flannel's attributes, read the attributes back, and decide whether an
// existing device can be kept (upstream's compatibility rules, flannel-compat §5).
import { FlagsNew, ifla } from 'netlink';
import { be16, ip4BufToString, ip4StringToBuf, macToBuf, toBuf } from './codec.js';
import { formatIPv6, ip6FromBuffer, ip6ToBuffer, parseIPv6 } from '../net/ipv6.js';
import { linkInfoFromMessage, type LinkInfo } from './links.js';
import { sharedRtSocket, type RtSocket } from './socket.js';

/** What a VXLAN device should look like. */
export interface VxlanLinkSpec {
  readonly name: string;
  readonly vni: number;
  /** Source address of the outer packets (upstream: ExtAddr); for flannel-v6.<VNI> an IPv6 address (ExtAddr6). */
  readonly localIP: string;
  /** The underlay link (VtepDevIndex). */
  readonly underlayIndex: number;
  /** UDP destination port; upstream sends none when the config says 0, so the kernel's 8472 applies. */
  readonly port: number;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number;
  /** Lower-case MAC for the new device. */
  readonly mac: string;
}

/** The attributes of an existing VXLAN device, as the kernel reports them. */
export interface VxlanLinkAttrs {
  readonly vni: number | null;
  readonly localIP: string | null;
  readonly groupIP: string | null;
  readonly underlayIndex: number | null;
  readonly port: number | null;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly l2miss: boolean;
  readonly l3miss: boolean;
}

/** Reads the VXLAN attributes of a link; null when it is not a VXLAN device. */
export function readVxlanAttrs(link: LinkInfo): VxlanLinkAttrs | null {
  const raw = link.message.attrs.linkinfo;
  if (!raw) return null;
  const info = ifla.parseInfo(raw);
  if (info.kind !== 'vxlan' || !info.data) return null;
  const v = ifla.parseVxlan(info.data);
  return {
    vni: v.id ?? null,
    localIP: v.local6 && v.local6.length === 16 ? formatIPv6(ip6FromBuffer(v.local6)) : ip4BufToString(v.local),
    groupIP: ip4BufToString(v.group),
    underlayIndex: v.link ?? null,
    port: v.port && v.port.length === 2 ? v.port.readUInt16BE(0) : null,
    learning: (v.learning ?? 1) !== 0,
    gbp: v.gbp === true,
    l2miss: (v.l2miss ?? 0) !== 0,
    l3miss: (v.l3miss ?? 0) !== 0,
  };
}

/**
 * Why an existing device cannot be kept for `want`, or null when it can. Upstream compares VNI, underlay device,
 * source address, group, l2miss, port and GBP; we also compare learning so that a changed `Learning` takes effect.
 * The MTU is not a reason: it is set in place.
 */
export function vxlanIncompatibility(have: VxlanLinkAttrs, want: VxlanLinkSpec): string | null {
  if (have.vni !== want.vni) return `VNI ${have.vni} ≠ ${want.vni}`;
  if (have.underlayIndex !== null && have.underlayIndex > 0 && have.underlayIndex !== want.underlayIndex) {
    return `underlay device #${have.underlayIndex} ≠ #${want.underlayIndex}`;
  }
  if (have.localIP !== want.localIP) return `local ${have.localIP ?? 'none'} ≠ ${want.localIP}`;
  if (have.groupIP !== null) return `has group ${have.groupIP}`;
  if (have.l2miss) return 'has l2miss';
  if (have.port !== null && have.port > 0 && have.port !== want.port) return `port ${have.port} ≠ ${want.port}`;
  if (have.gbp !== want.gbp) return `gbp ${have.gbp} ≠ ${want.gbp}`;
  if (have.learning !== want.learning) return `learning ${have.learning} ≠ ${want.learning}`;
  return null;
}

/** Creates the device (fails with EEXIST when the name is taken) and returns it as the kernel reports it. */
export async function createVxlanLink(spec: VxlanLinkSpec, s: RtSocket = sharedRtSocket()): Promise<LinkInfo> {
  const local6 = spec.localIP.includes(':') ? parseIPv6(spec.localIP) : null;
  const data: ifla.Vxlan = {
    id: spec.vni,
    ...(local6 !== null ? { local6: ip6ToBuffer(local6) } : { local: ip4StringToBuf(spec.localIP) }),
    link: spec.underlayIndex,
    learning: spec.learning ? 1 : 0,
    l2miss: 0,
    l3miss: 0,
    port: be16(spec.port),
  };
  if (spec.gbp) data.gbp = true;
  const linkinfo = toBuf(ifla.formatInfo({ kind: 'vxlan', data: toBuf(ifla.formatVxlan(data)) }));
  await s.request(`create vxlan link ${spec.name}`, (nl, o) =>
    // txqlen 0 as upstream's device has (its netlink library sends the zero): a noqueue device ignores it, but
    // `ip link` then reads the same on both.
    nl.newLink({}, { ifname: spec.name, address: macToBuf(spec.mac), mtu: spec.mtu, txqlen: 0, linkinfo },
      { ...o, flags: FlagsNew.CREATE | FlagsNew.EXCL }));
  const [message] = await s.request(`get link ${spec.name}`, (nl, o) => nl.getLink({}, { ifname: spec.name }, o));
  if (!message) throw new Error(`vxlan link ${spec.name} vanished right after it was created`);
  return linkInfoFromMessage(message);
}
