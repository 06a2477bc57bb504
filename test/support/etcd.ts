// Real etcd members for tests (Debian's etcd-server): free ports, a temp data dir each, readiness by /health or
// `etcdctl endpoint health`. Every member is stopped by PID and its data dir removed when the test process exits,
// pass or fail; tests should still call stopAllEtcd() in their after() hook.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isAlive, onProcessExit, run, spawnTracked, untrack, waitFor } from './proc.js';

export interface EtcdMember {
  readonly name: string;
  /** Changes on restart(). */
  readonly pid: number;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** SIGTERM by PID and wait for the exit (SIGKILL after 10 s). The data dir stays for restart(). */
  stop(): Promise<void>;
  /** SIGKILL by PID and wait. */
  kill(): Promise<void>;
  freeze(): void;
  thaw(): void;
  /** Starts it again with the same name, ports and data dir; waits until it answers. */
  restart(): Promise<void>;
  /** stop() and remove the data dir and log. */
  destroy(): Promise<void>;
}

export interface StartEtcdOptions {
  readonly netns?: string;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  readonly clientPort?: number;
  readonly peerPort?: number;
  readonly name?: string;
  /** Serve clients over TLS with these files; clients must then present a certificate signed by `caFile`. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string;
    /** Server-only TLS: clients need no certificate (no --client-cert-auth). */
    readonly serverOnly?: boolean };
  /** Also serve the v2 keys API (`--enable-v2`), as a flannel 0.7 cluster's etcd does. */
  readonly enableV2?: boolean;
}

const live = new Set<MemberImpl>();
onProcessExit(() => {
  for (const m of live) m.killAndRemoveSync();
});

export function etcdAvailable(): boolean {
  return ['/usr/bin/etcd', '/usr/local/bin/etcd'].some((p) => fs.existsSync(p))
    && ['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].some((p) => fs.existsSync(p));
}

function randomTag(): string {
  return crypto.randomBytes(3).toString('hex');
}

/** A port that was free on loopback a moment ago (the kernel picks it). */
function freeLoopbackPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function pickPort(o: StartEtcdOptions, host: string, given?: number): Promise<number> {
  if (given) return given;
  // Inside a fresh namespace nothing else listens; outside, ask the kernel.
  if (o.netns) return 20000 + crypto.randomInt(30000);
  return freeLoopbackPort(host);
}

interface MemberSpec {
  readonly name: string;
  readonly host: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly netns?: string;
  readonly dataDir: string;
  readonly initialCluster: string;
  readonly clusterToken: string;
  readonly tls?: StartEtcdOptions['tls'];
  readonly enableV2?: boolean;
}

class MemberImpl implements EtcdMember {
  pid = 0;
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;

  constructor(private readonly spec: MemberSpec) {
    this.name = spec.name;
    this.clientUrl = `${spec.tls ? 'https' : 'http'}://${spec.host}:${spec.clientPort}`;
    this.peerUrl = `http://${spec.host}:${spec.peerPort}`;
    this.dataDir = spec.dataDir;
    this.logFile = `${spec.dataDir}.log`;
  }

  spawn(): void {
    const args = ['--name', this.name, '--data-dir', this.dataDir,
      '--listen-client-urls', this.clientUrl, '--advertise-client-urls', this.clientUrl,
      '--listen-peer-urls', this.peerUrl, '--initial-advertise-peer-urls', this.peerUrl,
      '--initial-cluster', this.spec.initialCluster, '--initial-cluster-state', 'new',
      '--initial-cluster-token', this.spec.clusterToken, '--logger', 'zap', '--log-outputs', 'stderr',
      ...(this.spec.tls ? ['--cert-file', this.spec.tls.certFile, '--key-file', this.spec.tls.keyFile,
        ...(this.spec.tls.serverOnly ? [] : ['--trusted-ca-file', this.spec.tls.caFile, '--client-cert-auth'])] : []),
      ...(this.spec.enableV2 ? ['--enable-v2=true'] : [])];
    const out = fs.openSync(this.logFile, 'a');
    const [cmd, argv] = this.spec.netns
      ? ['ip', ['netns', 'exec', this.spec.netns, 'etcd', ...args]] as const
      : ['etcd', args] as const;
    const child = spawnTracked(cmd, argv, { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    if (child.pid === undefined) throw new Error('etcd did not start (is etcd-server installed?)');
    child.unref();
    this.pid = child.pid;
    live.add(this);
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const pid = this.pid;
    try {
      await waitFor(async () => {
        if (!isAlive(pid)) throw new Error(`etcd ${this.name} exited`);
        if (this.spec.netns || this.spec.tls) {
          const tls = this.spec.tls;
          const ctl = ['etcdctl', '--endpoints', this.clientUrl, '--dial-timeout=1s', '--command-timeout=2s',
            ...(tls ? ['--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile] : []), 'endpoint', 'health'];
          const [cmd, argv] = this.spec.netns ? ['ip', ['netns', 'exec', this.spec.netns, ...ctl]] : [ctl[0]!, ctl.slice(1)];
          const r = await run(cmd, argv, { allowFail: true, env: { ...process.env, ETCDCTL_API: '3' }, timeoutMs: 5000 });
          return r.code === 0;
        }
        const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { health?: string };
        return body.health === 'true';
      }, { what: `etcd ${this.name} at ${this.clientUrl} to be healthy`, timeoutMs, intervalMs: 100 });
    } catch (err) {
      const tail = fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8').slice(-1500) : '';
      throw new Error(`${(err as Error).message}; log tail: ${tail}`);
    }
  }

  private async waitGone(pid: number, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return !isAlive(pid);
  }

  async stop(): Promise<void> {
    const pid = this.pid;
    if (!pid || !isAlive(pid)) return;
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
    if (!(await this.waitGone(pid, 10_000))) {
      process.kill(pid, 'SIGKILL');
      await this.waitGone(pid, 5000);
    }
    untrack(pid);
  }

  async kill(): Promise<void> {
    const pid = this.pid;
    if (!pid || !isAlive(pid)) return;
    process.kill(pid, 'SIGKILL');
    await this.waitGone(pid, 5000);
    untrack(pid);
  }

  freeze(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop();
    this.spawn();
    await this.waitHealthy();
  }

  async destroy(): Promise<void> {
    await this.stop();
    live.delete(this);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.logFile, { force: true });
  }

  killAndRemoveSync(): void {
    if (this.pid && isAlive(this.pid)) {
      try {
        process.kill(this.pid, 'SIGCONT');
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.rmSync(this.logFile, { force: true });
  }
}

async function makeSpecs(size: number, o: StartEtcdOptions): Promise<MemberSpec[]> {
  const host = o.host ?? '127.0.0.1';
  const tag = randomTag();
  const base = o.name ?? `tsfl-etcd-${tag}`;
  const partial: Array<Omit<MemberSpec, 'initialCluster'>> = [];
  for (let i = 0; i < size; i++) {
    const name = size === 1 ? base : `${base}-${i}`;
    partial.push({
      name, host, netns: o.netns, clusterToken: `tsfl-${tag}`, tls: o.tls, enableV2: o.enableV2,
      clientPort: await pickPort(o, host, size === 1 ? o.clientPort : undefined),
      peerPort: await pickPort(o, host, size === 1 ? o.peerPort : undefined),
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`)),
    });
  }
  const initialCluster = partial.map((p) => `${p.name}=http://${host}:${p.peerPort}`).join(',');
  return partial.map((p) => ({ ...p, initialCluster }));
}

/** One etcd member on free ports with a fresh data dir; resolves once it answers. */
export async function startEtcd(o: StartEtcdOptions = {}): Promise<EtcdMember> {
  const [spec] = await makeSpecs(1, o);
  const m = new MemberImpl(spec!);
  m.spawn();
  try {
    await m.waitHealthy();
  } catch (err) {
    await m.destroy();
    throw err;
  }
  return m;
}

/** A cluster of `size` members, started together; resolves once every member answers (a leader exists). */
export async function startEtcdCluster(size: number, o: StartEtcdOptions = {}): Promise<EtcdMember[]> {
  const members = (await makeSpecs(size, o)).map((s) => new MemberImpl(s));
  for (const m of members) m.spawn();
  try {
    await Promise.all(members.map((m) => m.waitHealthy(30_000)));
  } catch (err) {
    await Promise.all(members.map((m) => m.destroy()));
    throw err;
  }
  return members;
}

/** Stops every member this process started and removes their data dirs. */
export async function stopAllEtcd(): Promise<void> {
  await Promise.all([...live].map((m) => m.destroy()));
}

/** etcdctl (API v3) against `endpoints` (comma-separated); returns stdout, throws with stderr on failure. */
export async function etcdctl(endpoints: string, args: readonly string[], o: { netns?: string; input?: string } = {}): Promise<string> {
  const argv = ['--endpoints', endpoints, '--dial-timeout=2s', '--command-timeout=5s', ...args];
  const [cmd, full] = o.netns ? ['ip', ['netns', 'exec', o.netns, 'etcdctl', ...argv]] : ['etcdctl', argv];
  const r = await run(cmd, full, { env: { ...process.env, ETCDCTL_API: '3' }, input: o.input, timeoutMs: 15_000 });
  return r.stdout;
}

/** etcdctl with API v2 (`set`, `get`, `rm`, `mk`, ...), as CentOS 7's etcdctl runs by default. */
export async function etcdctlV2(endpoints: string, args: readonly string[], o: { netns?: string; input?: string } = {}): Promise<string> {
  const argv = ['--endpoints', endpoints, ...args];
  const [cmd, full] = o.netns ? ['ip', ['netns', 'exec', o.netns, 'etcdctl', ...argv]] : ['etcdctl', argv];
  const r = await run(cmd, full, { env: { ...process.env, ETCDCTL_API: '2' }, input: o.input, timeoutMs: 15_000 });
  return r.stdout;
}

/** How many LeaseTimeToLive calls the member has answered (from its /metrics): what a client asked about expiries. */
export async function timeToLiveCalls(clientUrl: string): Promise<number> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('grpc_server_handled_total{') && l.includes('grpc_method="LeaseTimeToLive"'))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}
