// A testbed of N hosts in network namespaces, as DESIGN.md (Tests) describes: an underlay bridge in its own
// "switch" namespace, hosts h1..hN with a veth into it (192.0.2.(10+i)/24), etcd on h1's underlay address,
// tsflanneld daemons with per-host subnet files, and container namespaces behind a bridge on each host configured
// from that host's subnet.env, as Docker does with --bip/--mtu.
//
// Everything carries the run tag (`tsf` + 4 hex) and is recorded in a ledger before it is created (./leftovers.ts);
// destroy() removes it by name (processes by PID, via the namespaces they live in) and also runs on process exit and
// SIGINT/SIGTERM. A run that crashed is swept by the next Testbed.create().
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatIPv4, parseCidr, parseIPv4, prefixMask } from '../../src/net/ipv4.js';
import {
  dropLedger, ledgerExists, newLedger, saveLedger, sweepDeadRuns, teardownSync, type Ledger,
} from './leftovers.js';
import { startEtcd, type EtcdMember } from './etcd.js';
import {
  createNetns, execCommand, inNetns, isAlive, killPids, mustExec, removeNetns, type ExecResult,
} from './netns.js';
import { readSubnetEnv, readSubnetEnvVars, type SubnetEnv } from './subnet-env.js';
import { onProcessExit, poll } from './proc.js';
import { pingOnce, tcpTransfer, type TransferResult } from './traffic.js';
import type { AddContainerOptions, Container, Host, TestbedOptions } from './testbed-model.js';

/** The installed command (package.json "bin"): it runs the bundle, dist/tsflanneld.bundle.js, when one was built. */
export const CLI_JS = path.resolve(__dirname, '..', '..', 'src', 'tsflanneld.js');
/** The prefix the seed and the issue use. */
export const DEFAULT_PREFIX = '/usr/local/bin/network';
/** Name of the underlay interface inside every host namespace. */
export const UNDERLAY_IFACE = 'eth0';
/** Name of the Docker-like bridge inside every host namespace. */
export const CONTAINER_BRIDGE = 'tsfbr0';

export type { AddContainerOptions, Container, Host, TestbedOptions } from './testbed-model.js';

const live = new Set<Testbed>();
let exitHooksInstalled = false;

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  // Runs on normal exit, on an uncaught error and on SIGINT/SIGTERM (proc.ts then exits 130/143).
  onProcessExit(() => { for (const tb of live) tb.destroySync(); });
}

// poll lives in proc.ts; re-exported because tests and the bench import it with the Testbed.
export { poll };

export class Testbed {
  readonly hosts: Host[] = [];
  /** etcd on h1's underlay address (clients :2379, peers :2380); null with `etcd: false`. */
  etcd: EtcdMember | null = null;
  private destroyed = false;

  private constructor(readonly tag: string, readonly dir: string, readonly prefix: string,
    private readonly ledger: Ledger) {}

  /** Sweeps dead runs' leftovers, then builds the switch, the hosts and (by default) etcd on h1. */
  static async create(opts: TestbedOptions): Promise<Testbed> {
    await sweepDeadRuns();
    installExitHooks();
    let tag = `tsf${randomBytes(2).toString('hex')}`;
    while (ledgerExists(tag)) tag = `tsf${randomBytes(2).toString('hex')}`;
    const ledger = newLedger(tag);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
    ledger.dirs.push(dir);
    saveLedger(ledger);
    const tb = new Testbed(tag, dir, opts.prefix ?? DEFAULT_PREFIX, ledger);
    live.add(tb);
    try {
      await tb.ownNetns(tb.switchNetns);
      await mustExec(['ip', '-n', tb.switchNetns, 'link', 'add', 'br0', 'type', 'bridge']);
      await mustExec(['ip', '-n', tb.switchNetns, 'link', 'set', 'br0', 'up']);
      for (let i = 0; i < opts.hosts; i++) await tb.addHost();
      if (opts.etcd ?? true) await tb.startEtcd(opts.etcdV2 === true);
      if (opts.config !== undefined) await tb.putConfig(opts.config);
      return tb;
    } catch (e) {
      await tb.destroy();
      throw e;
    }
  }

  get switchNetns(): string {
    return `${this.tag}-sw`;
  }

  /** etcd client URL (reachable from inside the host namespaces only). */
  get etcdEndpoint(): string {
    const h1 = this.hosts[0];
    if (h1 === undefined) throw new Error('testbed has no hosts');
    return `http://${h1.ip}:2379`;
  }

  host(index: number): Host {
    const h = this.hosts[index - 1];
    if (h === undefined) throw new Error(`testbed has no host h${index}`);
    return h;
  }

  private async ownNetns(ns: string): Promise<void> {
    this.ledger.netns.push(ns);
    saveLedger(this.ledger);
    await createNetns(ns);
  }

  /** Adds host h(N+1): namespace, veth into the underlay bridge, 192.0.2.(10+i)/24, ip_forward=1. */
  async addHost(): Promise<Host> {
    const index = this.hosts.length + 1;
    const name = `h${index}`;
    const netns = `${this.tag}-${name}`;
    await this.ownNetns(netns);
    const sw = this.switchNetns;
    await mustExec(['ip', '-n', sw, 'link', 'add', name, 'type', 'veth', 'peer', 'name', UNDERLAY_IFACE, 'netns', netns]);
    await mustExec(['ip', '-n', sw, 'link', 'set', name, 'master', 'br0', 'up']);
    const ip = `192.0.2.${10 + index}`;
    await mustExec(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', UNDERLAY_IFACE]);
    await mustExec(['ip', '-n', netns, 'link', 'set', UNDERLAY_IFACE, 'up']);
    await mustExec(inNetns(netns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']));
    const hostDir = path.join(this.dir, name);
    fs.mkdirSync(hostDir, { recursive: true });
    const host: Host = { index, name, netns, ip, subnetFile: path.join(hostDir, 'subnet.env'),
      stateDir: path.join(hostDir, 'state'), logFile: path.join(hostDir, 'tsflanneld.log'), daemon: null, daemonStartedAt: 0, containers: [] };
    this.hosts.push(host);
    return host;
  }

  async startEtcd(enableV2 = false): Promise<void> {
    const h1 = this.host(1);
    this.etcd = await startEtcd({ netns: h1.netns, host: h1.ip, clientPort: 2379, peerPort: 2380, name: `${this.tag}-etcd`, enableV2 });
    // Its data dir lives outside ours; record it so that a crashed run's sweep removes it too.
    this.ledger.dirs.push(this.etcd.dataDir, this.etcd.logFile);
    saveLedger(this.ledger);
  }

  /** Runs etcdctl (v3) against the testbed's etcd, from inside h1. Throws on failure. */
  async etcdctl(args: readonly string[]): Promise<string> {
    return mustExec(inNetns(this.host(1).netns, ['etcdctl', '--endpoints', this.etcdEndpoint, ...args]));
  }

  /** Writes `<prefix>/config`. */
  async putConfig(config: unknown, prefix = this.prefix): Promise<void> {
    await this.etcdctl(['put', `${prefix}/config`, JSON.stringify(config)]);
  }

  /** Keys and values under `<prefix>/subnets`. */
  async leases(prefix = this.prefix): Promise<Map<string, string>> {
    const out = await this.etcdctl(['get', '--prefix', `${prefix}/subnets/`]);
    const lines = out.split('\n').filter((l) => l !== '');
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) m.set(lines[i] as string, lines[i + 1] as string);
    return m;
  }

  /** The arguments every daemon gets: this testbed's etcd, prefix, subnet file, state dir, iface and public IP. */
  daemonArgs(host: Host): string[] {
    return ['--etcd-endpoints', this.etcdEndpoint, '--etcd-prefix', this.prefix, '--subnet-file', host.subnetFile,
      '--state-dir', host.stateDir, '--iface', UNDERLAY_IFACE, '--public-ip', host.ip];
  }

  /**
   * Starts `node dist/src/tsflanneld.js` in the host's namespace with daemonArgs() + extraArgs, its output appended to
   * host.logFile, run through `launcher` when given. Does not wait for anything; see waitForSubnetEnv.
   */
  startDaemon(host: Host, extraArgs: readonly string[] = [], launcher: readonly string[] = []): ChildProcess {
    if (host.daemon !== null && host.daemon.exitCode === null && host.daemon.signalCode === null) {
      throw new Error(`daemon on ${host.name} is already running (pid ${host.daemon.pid})`);
    }
    const out = fs.openSync(host.logFile, 'a');
    fs.writeSync(out, `--- start ${new Date().toISOString()} ${[...this.daemonArgs(host), ...extraArgs].join(' ')}\n`);
    // `ip netns exec` execs the command, so the PID we hold is the daemon's own.
    // `launcher` (e.g. a shell that drops privileges) must exec node too, keeping the PID.
    const child = spawn('ip', ['netns', 'exec', host.netns, ...launcher, process.execPath, CLI_JS,
      ...this.daemonArgs(host), ...extraArgs], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    host.daemon = child;
    host.daemonStartedAt = Date.now();
    return child;
  }

  private async endDaemon(host: Host, signal: NodeJS.Signals, timeoutMs: number): Promise<number | null> {
    const d = host.daemon;
    if (d === null) return null;
    host.daemon = null;
    if (d.exitCode !== null) return d.exitCode;
    if (d.signalCode !== null) return null;
    const exited = new Promise<number | null>((resolve) => d.once('exit', (code) => resolve(code)));
    if (d.pid !== undefined) process.kill(d.pid, signal);
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const result = await Promise.race([exited, timer]);
    if (result === 'timeout') {
      if (d.pid !== undefined) await killPids([d.pid]);
      throw new Error(`daemon on ${host.name} did not exit within ${timeoutMs} ms of ${signal}`);
    }
    return result;
  }

  /** SIGTERM by PID; resolves with the exit status once it exited (throws if it takes more than 10 s). */
  stopDaemon(host: Host): Promise<number | null> {
    return this.endDaemon(host, 'SIGTERM', 10_000);
  }

  /** SIGKILL by PID: a crash, leaving the lease and the datapath as they were. */
  async killDaemon(host: Host): Promise<void> {
    await this.endDaemon(host, 'SIGKILL', 5_000);
  }

  /** The daemon's captured output so far. */
  daemonLog(host: Host): string {
    return fs.existsSync(host.logFile) ? fs.readFileSync(host.logFile, 'utf8') : '';
  }

  /**
   * Runs a test body; when it fails, a report of the hosts' state (routes by default) and the tail of every daemon's
   * log are appended to the error, so a CI failure explains itself.
   */
  async explainFailure(fn: () => Promise<void>, report: () => Promise<string> = () => this.routesReport()): Promise<void> {
    try {
      await fn();
    } catch (e) {
      if (e instanceof Error) e.message += `\n${await report().catch(() => '')}\n${this.allLogs().slice(-20_000)}`;
      throw e;
    }
  }

  /** The host's first container (tests that attach one per host). */
  container(host: Host): Container {
    const c = host.containers[0];
    if (c === undefined) throw new Error(`${host.name} has no container`);
    return c;
  }

  /** Every daemon's log, for printing when a test fails. */
  allLogs(): string {
    return this.hosts.map((h) => `===== ${h.name} (${h.ip}) tsflanneld log =====\n${this.daemonLog(h)}`).join('\n');
  }

  /**
   * Waits until the daemon last started on the host has written a complete subnet.env (one from an earlier run
   * does not count); fails early if the daemon exited.
   */
  async waitForSubnetEnv(host: Host, timeoutMs = 30_000): Promise<SubnetEnv> {
    return poll(`${host.name}'s subnet.env (${host.subnetFile})`, () => {
      const d = host.daemon;
      if (d !== null && (d.exitCode !== null || d.signalCode !== null)) {
        throw new Error(`daemon on ${host.name} exited (${d.exitCode ?? d.signalCode}) before writing subnet.env:\n`
          + this.daemonLog(host).slice(-3000));
      }
      const mtime = fs.statSync(host.subnetFile, { throwIfNoEntry: false })?.mtimeMs;
      // The file clock is coarser than Date.now(); a daemon needs far longer than 50 ms to start anyway.
      if (mtime === undefined || mtime < host.daemonStartedAt - 50) return null;
      return readSubnetEnv(host.subnetFile);
    }, timeoutMs);
  }

  /**
   * A container namespace behind the host's bridge, configured from subnet.env like Docker's --bip/--mtu: the
   * bridge gets FLANNEL_SUBNET and FLANNEL_MTU, the container the next free address, MTU FLANNEL_MTU and a default
   * route via the bridge. The host's daemon must have written subnet.env.
   */
  async addContainer(host: Host, name: string, opts: AddContainerOptions = {}): Promise<Container> {
    const env = readSubnetEnv(host.subnetFile);
    if (env === null) throw new Error(`${host.name} has no subnet.env yet (${host.subnetFile}); start its daemon first`);
    const subnet = parseCidr(env.subnet);
    const bridgeIP = parseIPv4(env.subnet.split('/')[0] ?? '');
    if (subnet === null || bridgeIP === null) throw new Error(`${host.name}: bad FLANNEL_SUBNET ${env.subnet}`);
    await this.ensureBridge(host, env);
    const ip = formatIPv4((bridgeIP + 1 + host.containers.length) >>> 0);
    if (((parseIPv4(ip) as number) & prefixMask(subnet.prefixLen)) >>> 0 !== subnet.ip) {
      throw new Error(`${host.name}'s subnet ${env.subnet} has no room for another container`);
    }
    const netns = `${this.tag}-${host.name}-${name}`;
    const hostVeth = `ve-${name}`.slice(0, 15);
    await this.ownNetns(netns);
    const mtu = String(env.mtu);
    await mustExec(['ip', '-n', host.netns, 'link', 'add', hostVeth, 'mtu', mtu, 'type', 'veth',
      'peer', 'name', 'eth0', 'mtu', mtu, 'netns', netns]);
    await mustExec(['ip', '-n', host.netns, 'link', 'set', hostVeth, 'master', CONTAINER_BRIDGE, 'up']);
    await mustExec(['ip', '-n', netns, 'addr', 'add', `${ip}/${subnet.prefixLen}`, 'dev', 'eth0']);
    await mustExec(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
    await mustExec(['ip', '-n', netns, 'route', 'add', 'default', 'via', formatIPv4(bridgeIP)]);
    if (opts.txChecksumOff === true) {
      await mustExec(inNetns(host.netns, ['ethtool', '-K', hostVeth, 'tx', 'off']));
      await mustExec(inNetns(netns, ['ethtool', '-K', 'eth0', 'tx', 'off']));
    }
    const c: Container = { name, netns, host, ip, mtu: env.mtu };
    host.containers.push(c);
    return c;
  }

  /** IPv6-only addContainer: bridge FLANNEL_IPV6_SUBNET, container `…::2` upwards, default route via the bridge. */
  async addContainer6(host: Host, name: string): Promise<Container> {
    const vars = readSubnetEnvVars(host.subnetFile);
    const [bridge, len] = (vars.FLANNEL_IPV6_SUBNET ?? '').split('/');
    if (!bridge || !len || !bridge.endsWith('::1')) throw new Error(`${host.name}: no usable FLANNEL_IPV6_SUBNET in ${host.subnetFile}`);
    const mtu = vars.FLANNEL_MTU ?? '1450';
    if ((await execCommand(['ip', '-n', host.netns, 'link', 'show', CONTAINER_BRIDGE])).code !== 0) {
      await mustExec(['ip', '-n', host.netns, 'link', 'add', CONTAINER_BRIDGE, 'type', 'bridge']);
      await mustExec(['ip', '-n', host.netns, 'addr', 'add', `${bridge}/${len}`, 'dev', CONTAINER_BRIDGE, 'nodad']);
    }
    await mustExec(['ip', '-n', host.netns, 'link', 'set', CONTAINER_BRIDGE, 'mtu', mtu, 'up']);
    const ip = bridge.replace(/::1$/, `::${(2 + host.containers.length).toString(16)}`);
    const netns = `${this.tag}-${host.name}-${name}`;
    const hostVeth = `ve-${name}`.slice(0, 15);
    await this.ownNetns(netns);
    await mustExec(['ip', '-n', host.netns, 'link', 'add', hostVeth, 'mtu', mtu, 'type', 'veth',
      'peer', 'name', 'eth0', 'mtu', mtu, 'netns', netns]);
    await mustExec(['ip', '-n', host.netns, 'link', 'set', hostVeth, 'master', CONTAINER_BRIDGE, 'up']);
    for (const argv of [['addr', 'add', `${ip}/${len}`, 'dev', 'eth0', 'nodad'], ['link', 'set', 'eth0', 'up'],
      ['-6', 'route', 'add', 'default', 'via', bridge]]) await mustExec(['ip', '-n', netns, ...argv]);
    host.containers.push({ name, netns, host, ip, mtu: Number(mtu) });
    return host.containers[host.containers.length - 1] as Container;
  }

  private async ensureBridge(host: Host, env: SubnetEnv): Promise<void> {
    const exists = (await execCommand(['ip', '-n', host.netns, 'link', 'show', CONTAINER_BRIDGE])).code === 0;
    if (!exists) {
      await mustExec(['ip', '-n', host.netns, 'link', 'add', CONTAINER_BRIDGE, 'type', 'bridge']);
      await mustExec(['ip', '-n', host.netns, 'addr', 'add', env.subnet, 'dev', CONTAINER_BRIDGE]);
    }
    await mustExec(['ip', '-n', host.netns, 'link', 'set', CONTAINER_BRIDGE, 'mtu', String(env.mtu), 'up']);
  }

  /** Runs a command inside a namespace (a host's, a container's, or any of this testbed's). */
  exec(ns: string | Host | Container, argv: readonly string[], input?: string): Promise<ExecResult> {
    const name = typeof ns === 'string' ? ns : ns.netns;
    return execCommand(inNetns(name, argv), input === undefined ? {} : { input });
  }

  /** One ping from a container (or namespace); true when answered. */
  ping(from: Container | string, toIP: string): Promise<boolean> {
    return pingOnce(typeof from === 'string' ? from : from.netns, toIP);
  }

  /** Pings until answered (routes take a moment to appear); throws with the daemons' logs after timeoutMs. */
  async waitForPing(from: Container, toIP: string, timeoutMs = 30_000): Promise<void> {
    try {
      await poll(`ping ${from.netns} → ${toIP}`, () => this.ping(from, toIP), timeoutMs, 100);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await this.routesReport()}\n${this.allLogs()}`);
    }
  }

  /** Random bytes over TCP from one container to another, hashed on both ends. */
  tcpTransfer(from: Container, to: Container, bytes: number): Promise<TransferResult> {
    return tcpTransfer(from.netns, to.netns, to.ip, bytes);
  }

  /** `ip -4 route show` inside a host, as lines. */
  async routes(host: Host): Promise<string[]> {
    const out = await mustExec(['ip', '-n', host.netns, '-4', 'route', 'show']);
    return out.split('\n').filter((l) => l !== '');
  }

  async routesReport(): Promise<string> {
    const parts: string[] = [];
    for (const h of this.hosts) parts.push(`===== ${h.name} routes =====\n${(await this.routes(h)).join('\n')}`);
    return parts.join('\n');
  }

  /** Removes every namespace (killing the processes inside by PID) and the temp dir. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.hosts) {
      const pid = h.daemon?.pid;
      if (pid !== undefined && isAlive(pid)) await killPids([pid]);
    }
    await this.etcd?.destroy().catch(() => undefined);
    const failures: string[] = [];
    for (const ns of [...this.ledger.netns].reverse()) {
      await removeNetns(ns).catch((e: Error) => failures.push(e.message));
    }
    for (const d of this.ledger.dirs) fs.rmSync(d, { recursive: true, force: true });
    live.delete(this);
    // A ledger with something left in it stays, so that the next run's sweep tries again.
    if (failures.length > 0) throw new Error(`testbed ${this.tag} not fully removed: ${failures.join('; ')}`);
    dropLedger(this.tag);
  }

  /** For exit handlers: the same removal, synchronously. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const h of this.hosts) {
      const pid = h.daemon?.pid;
      if (pid !== undefined) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    if (this.etcd !== null) {
      try { process.kill(this.etcd.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    teardownSync(this.ledger);
    live.delete(this);
  }
}
