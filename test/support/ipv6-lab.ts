// The IPv6 side of a testbed, shared by the IPv6 e2e suites: an IPv6 underlay address per host (2001:db8::/64,
// documentation space) with forwarding on, a dual-stack container as a CNI would build it from subnet.env, the
// kernel's IPv6 route to a peer's subnet, and the IPv6 routing tables for a failure report.
import assert from 'node:assert/strict';
import { inNetns, mustExec } from './netns.js';
import { readSubnetEnvVars } from './subnet-env.js';
import { startUpstream } from './upstream-flanneld.js';
import { poll, CONTAINER_BRIDGE, UNDERLAY_IFACE, type Container, type Host, type Testbed } from './testbed.js';

/** The host's IPv6 underlay address (its PublicIPv6). */
export const underlay6 = (h: Host): string => `2001:db8::${10 + h.index}`;

/** Every host gets its IPv6 underlay address on eth0 and IPv6 forwarding. */
export async function addIpv6Underlay(tb: Testbed): Promise<void> {
  for (const h of tb.hosts) {
    await mustExec(['ip', '-n', h.netns, 'addr', 'add', `${underlay6(h)}/64`, 'dev', UNDERLAY_IFACE, 'nodad']);
    await mustExec(inNetns(h.netns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']));
  }
}

/**
 * A container with an address in each family, as a dual-stack CNI does with subnet.env: the IPv4 side by
 * tb.addContainer, then the bridge takes FLANNEL_IPV6_SUBNET and the container the next address. Returns the
 * container and its IPv6 address.
 */
export async function addDualStackContainer(tb: Testbed, h: Host, name: string): Promise<[Container, string]> {
  const c = await tb.addContainer(h, name);
  const vars = readSubnetEnvVars(h.subnetFile);
  const bridge6 = vars.FLANNEL_IPV6_SUBNET;
  assert.ok(bridge6, `${h.name}: no FLANNEL_IPV6_SUBNET in ${JSON.stringify(vars)}`);
  const [addr, len] = bridge6.split('/') as [string, string];
  const mine = addr.replace(/::1$/, '::2');
  await mustExec(['ip', '-n', h.netns, 'addr', 'add', bridge6, 'dev', CONTAINER_BRIDGE, 'nodad']);
  await mustExec(['ip', '-n', c.netns, 'addr', 'add', `${mine}/${len}`, 'dev', 'eth0', 'nodad']);
  await mustExec(['ip', '-n', c.netns, '-6', 'route', 'add', 'default', 'via', addr]);
  return [c, mine];
}

/** A dual-stack container `c1` on every host (in host order), each recorded in `v6Of` with its IPv6 address. */
export async function addDualStackContainers(tb: Testbed, v6Of: Map<Container, string>): Promise<Container[]> {
  const cs: Container[] = [];
  for (const h of tb.hosts) {
    const [c, v6] = await addDualStackContainer(tb, h, 'c1');
    v6Of.set(c, v6);
    cs.push(c);
  }
  return cs;
}

/** The host's IPv6 subnet as a route destination (`fd00:…::/64`), from its subnet.env. */
export function ipv6SubnetOf(h: Host): string {
  return (readSubnetEnvVars(h.subnetFile).FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::/64');
}

export interface Ipv6Route {
  readonly gateway?: string;
  readonly dev?: string;
}

/** Waits until `from` has an IPv6 route to exactly `dst` and returns it. */
export function waitForIpv6Route(from: Host, dst: string, what = `${from.name}: IPv6 route to ${dst}`): Promise<Ipv6Route> {
  return poll(what, async () => {
    const out = await mustExec(['ip', '-n', from.netns, '-6', '-j', 'route', 'show', 'exact', dst]);
    return (JSON.parse(out || '[]') as Ipv6Route[])[0];
  });
}

/** Waits for an IPv6-only subnet.env (FLANNEL_IPV6_SUBNET, no IPv4 pair); fails early if the daemon exited. */
export function waitForIpv6OnlyEnv(tb: Testbed, h: Host, timeoutMs: number): Promise<boolean> {
  return poll(`${h.name}'s IPv6-only subnet.env`, () => {
    const d = h.daemon;
    if (d !== null && (d.exitCode !== null || d.signalCode !== null)) throw new Error(`daemon on ${h.name} exited:\n${tb.daemonLog(h).slice(-3000)}`);
    return readSubnetEnvVars(h.subnetFile).FLANNEL_IPV6_SUBNET !== undefined;
  }, timeoutMs);
}

/** Every host's IPv6 routing table, for tb.explainFailure's report. */
export async function ipv6RoutesReport(tb: Testbed): Promise<string> {
  const parts: string[] = [];
  for (const h of tb.hosts) parts.push(`===== ${h.name} -6 routes =====\n${await mustExec(['ip', '-n', h.netns, '-6', 'route', 'show'])}`);
  return parts.join('\n');
}

/** Both families' routing tables, for tb.explainFailure's report. */
export async function dualStackRoutesReport(tb: Testbed): Promise<string> {
  return `${await tb.routesReport()}\n${await ipv6RoutesReport(tb)}`;
}

/**
 * The three-host mixed cluster of the dual-stack interop suites: tsflanneld (with `daemonArgs`) on h1 and h3, the
 * real flanneld v0.28.9 with its PublicIPv6 on h2, all on the testbed's etcd prefix; resolves once all three wrote
 * subnet.env.
 */
export async function startBesideV0289(tb: Testbed, daemonArgs: readonly string[] = []): Promise<void> {
  const [h1, h2, h3] = tb.hosts as [Host, Host, Host];
  tb.startDaemon(h1, daemonArgs);
  startUpstream(tb, h2, 'v0.28.9', { extraArgs: [`-public-ipv6=${underlay6(h2)}`] });
  tb.startDaemon(h3, daemonArgs);
  for (const h of tb.hosts) await tb.waitForSubnetEnv(h, 45_000);
}

/** Every ordered pair of the dual-stack containers (container → its IPv6 address) pings in both families. */
export async function waitForPingsBothFamilies(tb: Testbed, v6Of: ReadonlyMap<Container, string>): Promise<void> {
  for (const [a] of v6Of) {
    for (const [b, bv6] of v6Of) {
      if (a === b) continue;
      await tb.waitForPing(a, b.ip, 45_000);
      await poll(`ping -6 ${a.netns} → ${bv6}`, () => tb.ping(a, bv6), 45_000, 200);
    }
  }
}

/**
 * A dual-stack cluster of tsflanneld only: the IPv6 underlay, a daemon (kernel vxlan datapath, so a live switch
 * between host-gw and vxlan works) on every host, and a dual-stack container on each once subnet.env is written.
 */
export async function startDualStackCluster(tb: Testbed, v6Of: Map<Container, string>): Promise<void> {
  await addIpv6Underlay(tb);
  for (const h of tb.hosts) tb.startDaemon(h, ['--vxlan-datapath', 'kernel']);
  for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
  await addDualStackContainers(tb, v6Of);
}
