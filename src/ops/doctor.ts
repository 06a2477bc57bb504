// `tsflanneld doctor [--json]`: gathers the facts of this host (in the current network namespace) and etcd, runs
// ./doctor-checks.ts over them and prints each check with its fix. Exit status 1 when any check fails.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chooseExternalInterface } from '../netlink/external-iface.js';
import { listLinks } from '../netlink/links.js';
import { listRoutes } from '../netlink/routes.js';
import type { Options } from '../options.js';
import { parseSubnetEnv } from '../subnet/subnet-env.js';
import { readClusterView } from './cluster-view.js';
import { formatChecks, runChecks, type DoctorFacts } from './doctor-checks.js';
import type { KernelFacts } from './doctor-leftovers.js';
import { MK_DOCKER_OPTS_DEFAULTS } from './mk-docker-opts.js';
import { readLiveState, stateFilePath } from './state-file.js';

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function run(cmd: string, args: readonly string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    return null;
  }
}

/** Local ports of bound UDP sockets: /proc/net/udp lines carry `local_address` as HEXIP:HEXPORT. */
export function parseProcNetUdp(text: string): number[] {
  return text.split('\n').slice(1).flatMap((line) => {
    const local = line.trim().split(/\s+/)[1];
    const port = local?.split(':')[1];
    return port === undefined ? [] : [parseInt(port, 16)];
  });
}

function vxlanDevices(): Array<{ name: string; port: number }> {
  const out = run('ip', ['-d', '-j', 'link', 'show', 'type', 'vxlan']);
  if (out === null || out.trim() === '') return [];
  try {
    const links = JSON.parse(out) as Array<{ ifname?: string; linkinfo?: { info_data?: { port?: number } } }>;
    return links.map((l) => ({ name: l.ifname ?? '?', port: l.linkinfo?.info_data?.port ?? 8472 }));
  } catch {
    return [];
  }
}

/** statfs of the subnet file's directory, or of the nearest existing parent (the daemon creates the directory). */
function dirSpace(file: string): DoctorFacts['subnetDirSpace'] {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    try {
      const s = fs.statfsSync(dir);
      return { dir, freeBytes: s.bavail * s.bsize, freeInodes: s.ffree };
    } catch {
      if (dir === path.dirname(dir)) return null;
    }
  }
}

function vxlanModule(): DoctorFacts['vxlanModule'] {
  if (fs.existsSync('/sys/module/vxlan')) return 'loaded';
  return run('modinfo', ['vxlan']) !== null ? 'available' : 'absent';
}

/** Where mk-docker-opts output usually lives: the RPM unit's file and the script's default. */
const DOCKER_OPTS_FILES = ['/run/flannel/docker', MK_DOCKER_OPTS_DEFAULTS.dockerEnv];

async function kernelFacts(): Promise<KernelFacts | null> {
  try {
    return { links: await listLinks(), routes: await listRoutes() };
  } catch {
    return null;
  }
}

export async function gatherFacts(options: Options): Promise<DoctorFacts> {
  const envText = readText(options.subnetFile);
  const dockerMtu = readText('/sys/class/net/docker0/mtu');
  const endpoints = options.etcdEndpoints.join(',');
  let etcd: DoctorFacts['etcd'];
  try {
    const v = await readClusterView(options);
    etcd = { endpoints, configKey: v.configKey, subnetsPrefix: v.subnetsPrefix, error: null, config: v.config,
      configError: v.configError, leases: v.leases, ...(v.api ? { api: v.api, apiWarning: v.apiWarning ?? null } : {}) };
  } catch (e) {
    const prefix = options.etcdPrefix;
    etcd = { endpoints, configKey: `${prefix}/config`, subnetsPrefix: `${prefix}/subnets`, error: (e as Error).message,
      config: null, configError: null, leases: [] };
  }
  // The interface as the daemon would choose it under this config: IPv6-only needs no IPv4 address or route.
  const config = etcd.config;
  let iface: DoctorFacts['iface'];
  try {
    const i = await chooseExternalInterface({ iface: options.iface, ifaceRegex: options.ifaceRegex,
      ...(options.ifaceCanReach ? { ifaceCanReach: options.ifaceCanReach } : {}),
      ...(options.publicIP ? { publicIP: options.publicIP } : {}),
      ...(config?.ipv6 ? { ipv6: { ...(options.publicIPv6 ? { publicIPv6: options.publicIPv6 } : {}) } } : {}),
      ipv6Only: config?.enableIPv4 === false });
    const v6only = config?.enableIPv4 === false;
    iface = { name: i.name, index: i.index, ifaceAddr: (v6only ? i.ifaceAddr6 : null) ?? i.ifaceAddr,
      extAddr: (v6only ? i.extAddr6 : null) ?? i.extAddr, mtu: i.mtu };
  } catch (e) {
    iface = { error: (e as Error).message.split('\n')[0] ?? String(e) };
  }
  return {
    ipForward: readText('/proc/sys/net/ipv4/ip_forward'),
    ipv6Forward: readText('/proc/sys/net/ipv6/conf/all/forwarding'),
    filterSave: run('iptables-save', ['-t', 'filter']),
    filterSave6: run('ip6tables-save', ['-t', 'filter']),
    brNetfilter: fs.existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables'),
    vxlanModule: vxlanModule(),
    devTun: fs.existsSync('/dev/net/tun'),
    iface,
    subnetFile: options.subnetFile,
    subnetEnv: envText === null ? null : parseSubnetEnv(envText),
    subnetDirSpace: dirSpace(options.subnetFile),
    dockerBridgeMtu: dockerMtu === null ? null : Number(dockerMtu.trim()),
    dockerOptsFiles: DOCKER_OPTS_FILES.flatMap((p) => {
      const text = readText(p);
      return text === null ? [] : [{ path: p, text }];
    }),
    kernel: await kernelFacts(),
    boundUdpPorts: new Set([...parseProcNetUdp(readText('/proc/net/udp') ?? ''), ...parseProcNetUdp(readText('/proc/net/udp6') ?? '')]),
    vxlanDevices: vxlanDevices(),
    daemonRunning: readLiveState(stateFilePath(options.subnetFile)) !== null,
    vxlanDatapath: options.vxlanDatapath,
    backendOverride: options.backend,
    etcd,
  };
}

export async function runDoctor(options: Options, json: boolean): Promise<number> {
  const results = runChecks(await gatherFacts(options));
  process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : formatChecks(results));
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
