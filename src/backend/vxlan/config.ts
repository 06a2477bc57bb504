// The vxlan keys of the network config's Backend object (flannel-compat §5), shared by the kernel and the
// userspace datapaths. Pure: takes the raw Backend object, returns validated values or throws one line.

/** Bytes the outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers add: flannel's encapOverhead. */
export const VXLAN_ENCAP_OVERHEAD = 50;
/** The Linux kernel's VXLAN port (upstream sends no port attribute when Port is 0, so the kernel picks this). */
export const DEFAULT_VXLAN_PORT = 8472;
export const DEFAULT_VNI = 1;
const MAX_VNI = 0xffffff;
/** The smallest device MTU IPv4 allows, so the config's MTU must leave at least this after the overhead. */
const MIN_IPV4_MTU = 68;

export interface VxlanConfig {
  readonly vni: number;
  /** The UDP destination port actually used (8472 when the config says 0 or nothing). */
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  /** The underlay MTU to plan with; null means "the external interface's MTU". */
  readonly mtu: number | null;
  readonly directRouting: boolean;
}

export class VxlanConfigError extends Error {
  override readonly name = 'VxlanConfigError';
}

type Kind = 'uint' | 'bool';
const FIELDS: Readonly<Record<string, { readonly name: string; readonly kind: Kind }>> = {
  vni: { name: 'VNI', kind: 'uint' },
  port: { name: 'Port', kind: 'uint' },
  mtu: { name: 'MTU', kind: 'uint' },
  gbp: { name: 'GBP', kind: 'bool' },
  learning: { name: 'Learning', kind: 'bool' },
  directrouting: { name: 'DirectRouting', kind: 'bool' },
};

function fail(field: string, value: unknown, fix: string): never {
  throw new VxlanConfigError(`invalid Backend.${field} ${JSON.stringify(value)} in the network config: ${fix}`);
}

function readField(name: string, kind: Kind, value: unknown): number | boolean {
  if (kind === 'bool') {
    if (typeof value !== 'boolean') fail(name, value, 'use true or false');
    return value;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(name, value, 'use a whole number ≥ 0');
  }
  return value;
}

/**
 * Reads the vxlan keys as Go's encoding/json would: names match case-insensitively, the last duplicate wins,
 * unknown keys (Type, and the Windows-only MacPrefix/Name) are ignored.
 */
export function parseVxlanConfig(backend: Readonly<Record<string, unknown>>): VxlanConfig {
  const seen = new Map<string, number | boolean>();
  for (const [key, value] of Object.entries(backend)) {
    const field = FIELDS[key.toLowerCase()];
    if (field && value !== null) seen.set(field.name, readField(field.name, field.kind, value));
  }
  const vni = (seen.get('VNI') as number | undefined) ?? DEFAULT_VNI;
  if (vni > MAX_VNI) fail('VNI', vni, `a VXLAN id is 24 bits: use 0..${MAX_VNI}`);
  const port = (seen.get('Port') as number | undefined) ?? 0;
  if (port > 65535) fail('Port', port, 'use a UDP port 1..65535, or 0 for the default 8472');
  const mtu = (seen.get('MTU') as number | undefined) ?? 0;
  if (mtu !== 0 && (mtu - VXLAN_ENCAP_OVERHEAD < MIN_IPV4_MTU || mtu > 65535)) {
    fail('MTU', mtu, `use ${MIN_IPV4_MTU + VXLAN_ENCAP_OVERHEAD}..65535 (the device gets MTU − ${VXLAN_ENCAP_OVERHEAD}), or 0 for the interface's MTU`);
  }
  return {
    vni,
    port: port === 0 ? DEFAULT_VXLAN_PORT : port,
    gbp: (seen.get('GBP') as boolean | undefined) ?? false,
    learning: (seen.get('Learning') as boolean | undefined) ?? false,
    mtu: mtu === 0 ? null : mtu,
    directRouting: (seen.get('DirectRouting') as boolean | undefined) ?? false,
  };
}

/** `flannel.<VNI>`, as upstream names the device. */
export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

/** The flannel device's MTU and FLANNEL_MTU: (config MTU, else the external interface's) − 50. */
export function vxlanDeviceMtu(config: VxlanConfig, extIfaceMtu: number): number {
  return (config.mtu ?? extIfaceMtu) - VXLAN_ENCAP_OVERHEAD;
}
