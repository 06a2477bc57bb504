// Builds one namespace testbed per datapath (test/support/testbed.ts): two hosts, and for the overlay datapaths
// etcd, a daemon per host (tsflanneld with the matching backend, or for the *-upstream rows the real upstream
// flanneld with the same backend from the config), and one container per host. The result names
// where iperf3's client and server run. Everything lives in the testbed's namespaces and goes with destroy().
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI_JS, Testbed, poll, type Container } from '../test/support/testbed.js';
import { execCommand, inNetns } from '../test/support/netns.js';
import { addDualStackContainers, addIpv6Underlay } from '../test/support/ipv6-lab.js';
import { lastDaemonError } from './daemon-log.js';
import { startDaemonCommand } from './daemons.js';
import type { DatapathName } from './options.js';

export const IPERF_PORT = 5201;
const OVERLAY_NETWORK = '10.42.0.0/16';
const OVERLAY_NETWORK6 = 'fd00:42::/56';

export interface PathUnderTest {
  readonly name: DatapathName;
  readonly testbed: Testbed;
  readonly clientNs: string;
  readonly serverNs: string;
  readonly serverIp: string;
  /** The daemons whose CPU is charged to this datapath (none for the underlay). */
  readonly daemonPids: readonly number[];
  /** What differs from the other datapaths' setup, for the report. */
  readonly note: string;
}

export interface OverlaySpec {
  readonly backendType: string;
  readonly daemonArgs: readonly string[];
  /** Runs the upstream binary instead of tsflanneld. */
  readonly upstream?: boolean;
  /** Dual-stack network over an IPv6 underlay too; iperf3 and ping run between the containers' IPv6 addresses. */
  readonly ipv6?: boolean;
}

const OVERLAYS: Readonly<Record<Exclude<DatapathName, 'underlay'>, OverlaySpec>> = {
  'host-gw': { backendType: 'host-gw', daemonArgs: ['--backend', 'host-gw'] },
  'vxlan-kernel': { backendType: 'vxlan', daemonArgs: ['--backend', 'vxlan', '--vxlan-datapath', 'kernel'] },
  // Same container offloads as the kernel paths: the userspace loop opens its TUN with vnet headers and takes
  // CHECKSUM_PARTIAL and TSO packets itself.
  'vxlan-userspace': { backendType: 'vxlan', daemonArgs: ['--backend', 'vxlan', '--vxlan-datapath', 'userspace'] },
  // Upstream takes its backend from the config alone.
  'vxlan-upstream': { backendType: 'vxlan', daemonArgs: [], upstream: true },
  // The udp backend: TUN flannel0 and UDP 8285 on both ends. tsflanneld carries it on the userspace loops (TSO/GSO,
  // GRO); upstream moves one packet per read and sendto through its C proxy.
  udp: { backendType: 'udp', daemonArgs: ['--backend', 'udp'] },
  'udp-upstream': { backendType: 'udp', daemonArgs: [], upstream: true },
  // Inner IPv6 over the IPv6 underlay: flannel-v6.1 as the kernel's vxlan device or as the userspace TUN.
  'vxlan-kernel-v6': { backendType: 'vxlan', daemonArgs: ['--backend', 'vxlan', '--vxlan-datapath', 'kernel'], ipv6: true },
  'vxlan-userspace-v6': {
    backendType: 'vxlan', daemonArgs: ['--backend', 'vxlan', '--vxlan-datapath', 'userspace'], ipv6: true,
  },
};

/** The report's note on how a row's daemons ran. Pure. */
export function overlayNote(spec: OverlaySpec, upstreamBin: string | null): string {
  if (spec.upstream !== true) return `daemons with ${spec.daemonArgs.join(' ')}`;
  const how = spec.backendType === 'vxlan' ? 'kernel vxlan' : `its ${spec.backendType} backend`;
  return `upstream flanneld ${upstreamBin ?? ''} (${how} from the config)`;
}

/** Starts `iperf3 -s` in the namespace and waits until it listens. It dies with the namespace. */
export async function startIperfServer(ns: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, 'iperf3', '-s', '-p', String(IPERF_PORT), '--rcv-timeout', '5000'],
    { stdio: 'ignore' });
  child.unref();
  await poll(`iperf3 server in ${ns}`, async () => {
    if (child.exitCode !== null) throw new Error(`iperf3 -s in ${ns} exited ${child.exitCode}`);
    const r = await execCommand(inNetns(ns, ['ss', '-Hltn', `sport = :${IPERF_PORT}`]));
    return r.code === 0 && r.stdout.trim() !== '';
  }, 10_000, 50);
}

/** Each daemon's last error line (or last line), for the datapath's error note. */
function daemonFailure(tb: Testbed): string {
  const reasons = tb.hosts.map((h) => `${h.name}: ${lastDaemonError(tb.daemonLog(h)) ?? 'no output'}`);
  return reasons.join('; ');
}

/** Builds the testbed for one datapath; on failure destroys what it built and throws a one-paragraph reason. */
export async function buildPath(name: DatapathName, upstreamBin: string | null): Promise<PathUnderTest> {
  const spec = name === 'underlay' ? null : OVERLAYS[name];
  if (spec?.upstream === true && upstreamBin === null) throw new Error('upstream flanneld is not available');
  if (spec !== null && spec.upstream !== true && !fs.existsSync(CLI_JS)) {
    throw new Error(`the daemon is not built (${CLI_JS} is missing): run npx tsc -p .`);
  }
  const tb = await Testbed.create({ hosts: 2, etcd: name !== 'underlay' });
  try {
    const h1 = tb.host(1);
    const h2 = tb.host(2);
    if (spec === null) {
      await startIperfServer(h2.netns);
      return { name, testbed: tb, clientNs: h1.netns, serverNs: h2.netns, serverIp: h2.ip, daemonPids: [],
        note: 'host to host on the underlay veth, no overlay' };
    }
    if (spec.ipv6 === true) await addIpv6Underlay(tb);
    await tb.putConfig({ Network: OVERLAY_NETWORK, Backend: { Type: spec.backendType },
      ...(spec.ipv6 === true ? { EnableIPv6: true, IPv6Network: OVERLAY_NETWORK6 } : {}) });
    const cmd = { upstreamBin: spec.upstream === true ? upstreamBin : null, args: spec.daemonArgs };
    startDaemonCommand(tb, h1, cmd);
    startDaemonCommand(tb, h2, cmd);
    try {
      await tb.waitForSubnetEnv(h1, 30_000);
      await tb.waitForSubnetEnv(h2, 30_000);
    } catch (e) {
      const first = ((e as Error).message.split('\n')[0] ?? '').replace(/:$/, '');
      throw new Error(`${first}; ${daemonFailure(tb)}`);
    }
    const v6Of = new Map<Container, string>();
    const [c1, c2] = spec.ipv6 === true ? await addDualStackContainers(tb, v6Of) as [Container, Container]
      : [await tb.addContainer(h1, 'c1'), await tb.addContainer(h2, 'c2')];
    const serverIp = v6Of.get(c2) ?? c2.ip;
    await tb.waitForPing(c1, serverIp, 30_000).catch((e: unknown) => {
      throw new Error(`containers cannot reach each other: ${(e as Error).message.split('\n')[0] ?? ''}; `
        + `daemon logs: ${daemonFailure(tb)}`);
    });
    await startIperfServer(c2.netns);
    const pids = [h1.daemon?.pid, h2.daemon?.pid].filter((p): p is number => p !== undefined);
    return { name, testbed: tb, clientNs: c1.netns, serverNs: c2.netns, serverIp, daemonPids: pids,
      note: `${overlayNote(spec, upstreamBin)}${spec.ipv6 === true ? ' (IPv6 inside and outside)' : ''}` };
  } catch (e) {
    await tb.destroy().catch(() => undefined);
    throw e;
  }
}
