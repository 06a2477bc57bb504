// One network namespace holding many alloc-backend daemons and their etcd: a veth pair whose one end carries as many
// 192.0.2.x addresses as there are daemons (each daemon takes one with --iface <IP>), etcd on the namespace's loopback.
// For tests about the control plane only (many claimants, operator mistakes), where a namespace per host would cost
// more than it shows. Everything is recorded in a testbed ledger first and removed by name (processes by PID).
import type { ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { etcdctl, startEtcd, type EtcdMember } from './etcd.js';
import { dropLedger, newLedger, saveLedger, sweepDeadRuns, type Ledger } from './leftovers.js';
import { createNetns, killPids, mustExec, removeNetns } from './netns.js';
import { spawnTracked, terminateTracked, waitFor } from './proc.js';
import { missingPrerequisite } from './prerequisites.js';
import { CLI_JS } from './testbed.js';

export interface LabDaemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly subnetFile: string;
  /** Everything the daemon wrote to stderr so far (pino JSON lines). */
  output: string;
  readonly exited: Promise<number | null>;
}

export interface LabDaemonOptions {
  readonly name: string;
  /** One of the lab's addresses; used as --iface. */
  readonly ip: string;
  readonly subnetFile?: string;
  readonly prefix?: string;
  readonly endpoints?: string;
  /** Replaces the default `--iface <ip>`. */
  readonly ifaceArgs?: readonly string[];
  readonly extra?: readonly string[];
  /** Runs node under this command, e.g. `['prlimit', '--nofile=256:256']` (it must exec, keeping the PID). */
  readonly launcher?: readonly string[];
}

export class Lab {
  readonly daemons: LabDaemon[] = [];

  private constructor(readonly ns: string, readonly dir: string, readonly etcd: EtcdMember, readonly ips: string[],
    private readonly ledger: Ledger) {}

  /** A namespace with `addresses` underlay addresses (192.0.2.101, .102, …) and a running etcd. */
  static async create(addresses: number): Promise<Lab> {
    await sweepDeadRuns();
    const tag = crypto.randomBytes(3).toString('hex');
    const ns = `tsfl-rl-${tag}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tsfl-rl-${tag}-`));
    const ledger = newLedger(`reliability-${tag}`);
    ledger.netns.push(ns);
    ledger.dirs.push(dir);
    saveLedger(ledger);
    const ifA = `trl${tag}a`;
    const ifB = `trl${tag}b`;
    await createNetns(ns);
    try {
      await mustExec(['ip', '-n', ns, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB]);
      const ips: string[] = [];
      for (let i = 0; i < addresses; i++) {
        const ip = `192.0.2.${101 + i}`;
        await mustExec(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', ifA]);
        ips.push(ip);
      }
      await mustExec(['ip', '-n', ns, 'addr', 'add', '192.0.2.1/24', 'dev', ifB]);
      await mustExec(['ip', '-n', ns, 'link', 'set', ifA, 'up']);
      await mustExec(['ip', '-n', ns, 'link', 'set', ifB, 'up']);
      const etcd = await startEtcd({ netns: ns });
      ledger.dirs.push(etcd.dataDir, etcd.logFile);
      saveLedger(ledger);
      return new Lab(ns, dir, etcd, ips, ledger);
    } catch (e) {
      await removeNetns(ns).catch(() => undefined);
      throw e;
    }
  }

  async etcdctl(args: readonly string[]): Promise<string> {
    return etcdctl(this.etcd.clientUrl, args, { netns: this.ns });
  }

  /** Starts `tsflanneld` (alloc backend unless the config says otherwise) inside the lab's namespace. */
  startDaemon(o: LabDaemonOptions): LabDaemon {
    const home = path.join(this.dir, o.name);
    fs.mkdirSync(home, { recursive: true });
    const subnetFile = o.subnetFile ?? path.join(home, 'subnet.env');
    const child = spawnTracked('ip', ['netns', 'exec', this.ns, ...(o.launcher ?? []), process.execPath, CLI_JS,
      '--etcd-endpoints', o.endpoints ?? this.etcd.clientUrl, '--etcd-prefix', o.prefix ?? '/coreos.com/network',
      ...(o.ifaceArgs ?? ['--iface', o.ip]), '--subnet-file', subnetFile, '--state-dir', path.join(home, 'state'),
      // Many daemons share this one namespace's iptables, which one host never does: leave the rules out.
      '--iptables-forward-rules=false', ...(o.extra ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TSFLANNELD_LOG_FORMAT: 'json' } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const d: LabDaemon = { name: o.name, child, subnetFile, output: '', exited };
    child.stderr?.on('data', (b: Buffer) => { d.output += b.toString(); });
    this.daemons.push(d);
    return d;
  }

  /** The daemon's subnet.env once written; throws (with its log) if it exits first. */
  async subnetEnvOf(d: LabDaemon, timeoutMs = 30_000): Promise<string> {
    const EXITED = '\0exited';
    const text = await waitFor(() => {
      if (fs.existsSync(d.subnetFile)) return fs.readFileSync(d.subnetFile, 'utf8');
      return d.child.exitCode !== null || d.child.signalCode !== null ? EXITED : null;
    }, { what: `${d.name}'s ${d.subnetFile}`, timeoutMs, intervalMs: 100 });
    if (text === EXITED) throw new Error(`${d.name} exited ${d.child.exitCode} before writing subnet.env: ${d.output.slice(-2000)}`);
    return text;
  }

  /** SIGTERM, then the exit status (SIGKILL after 15 s so a hung daemon fails the test instead of hanging it). */
  terminate(d: LabDaemon): Promise<number | null> {
    return terminateTracked(d.child, d.exited);
  }

  /** Keys and values under a prefix. */
  async kvs(prefix: string): Promise<Map<string, string>> {
    const out = await this.etcdctl(['get', '--prefix', prefix]);
    const lines = out.split('\n').filter((l) => l !== '');
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) m.set(lines[i] as string, lines[i + 1] as string);
    return m;
  }

  async destroy(): Promise<void> {
    await killPids(this.daemons.map((d) => d.child.pid).filter((p): p is number => p !== undefined));
    await this.etcd.destroy().catch(() => undefined);
    await removeNetns(this.ns);
    fs.rmSync(this.dir, { recursive: true, force: true });
    dropLedger(this.ledger.tag);
  }
}

/** Why the lab cannot run here, or null. */
export function labUnavailable(): string | null {
  return missingPrerequisite({ etcd: true, cli: true });
}
