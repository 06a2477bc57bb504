// "A daemon command": how the benchmark starts tsflanneld (the installed command, dist/src/tsflanneld.js, through the
// testbed) or the real upstream flanneld binary in a testbed host's namespace, so that every measurement is written
// once for both. Upstream runs with the same etcd, prefix, interface, public IP and subnet file; it writes no state
// dir. Its process is recorded as the host's daemon, so the testbed's stop, kill and destroy (by PID, then by
// namespace) cover it.
//
// tsflanneld runs as the shipped systemd units run it: with their CacheDirectory= (here a 0700 directory per host in
// the testbed's temp dir, handed over as $CACHE_DIRECTORY, so the V8 code cache is on) and their NODE_OPTIONS. Its
// first start on a host fills that cache and is not timed (warmCompileCache), as a node's daemon has started before.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { poll, UNDERLAY_IFACE, type Host, type Testbed } from '../test/support/testbed.js';
import { readSubnetEnv } from '../test/support/subnet-env.js';

export interface DaemonCommand {
  /** Path of the upstream flanneld binary, or null for tsflanneld. */
  readonly upstreamBin: string | null;
  /** Flags after the testbed's common ones (backend, datapath, healthz …). */
  readonly args: readonly string[];
}

export interface UpstreamPlace {
  readonly etcdEndpoint: string;
  readonly prefix: string;
  readonly ip: string;
  readonly subnetFile: string;
}

/** Upstream's command line in a testbed host. Pure. */
export function upstreamArgv(bin: string, at: UpstreamPlace, extra: readonly string[]): string[] {
  return [bin, '--etcd-endpoints', at.etcdEndpoint, '--etcd-prefix', at.prefix, '--iface', UNDERLAY_IFACE,
    '--public-ip', at.ip, '--subnet-file', at.subnetFile, ...extra];
}

/** systemd/tsflanneld.service's Environment=NODE_OPTIONS (kept equal by test/unit/bench-daemons.test.ts). */
export const UNIT_NODE_OPTIONS = '--v8-pool-size=1';

/** The host's stand-in for the unit's CacheDirectory= (/var/cache/tsflanneld). */
export function cacheDirectory(tb: Testbed, host: Host): string {
  return path.join(tb.dir, `${host.name}-cache`);
}

/** `env` execs node with the unit's environment (the PID stays the daemon's). Pure. */
export function unitLauncher(cacheDir: string): string[] {
  return ['env', `CACHE_DIRECTORY=${cacheDir}`, `NODE_OPTIONS=${UNIT_NODE_OPTIONS}`];
}

/** Starts the daemon in the host's namespace, its output appended to host.logFile; does not wait. */
export function startDaemonCommand(tb: Testbed, host: Host, cmd: DaemonCommand, extra: readonly string[] = []): ChildProcess {
  if (cmd.upstreamBin === null) {
    const cacheDir = cacheDirectory(tb, host);
    fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    return tb.startDaemon(host, [...cmd.args, ...extra], unitLauncher(cacheDir));
  }
  if (host.daemon !== null && host.daemon.exitCode === null && host.daemon.signalCode === null) {
    throw new Error(`daemon on ${host.name} is already running (pid ${host.daemon.pid})`);
  }
  const argv = upstreamArgv(cmd.upstreamBin, { etcdEndpoint: tb.etcdEndpoint, prefix: tb.prefix, ip: host.ip,
    subnetFile: host.subnetFile }, [...cmd.args, ...extra]);
  const out = fs.openSync(host.logFile, 'a');
  fs.writeSync(out, `--- start ${new Date().toISOString()} ${argv.join(' ')}\n`);
  // `ip netns exec` execs the binary, so the PID held is flanneld's own.
  const child = spawn('ip', ['netns', 'exec', host.netns, ...argv], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  host.daemon = child;
  host.daemonStartedAt = Date.now();
  return child;
}

/** Files in dir, 0 when it does not exist. */
function fileCount(dir: string): number {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return 0;
  }
}

/**
 * tsflanneld only: one untimed start that fills the host's code cache (the daemon writes it a few seconds after it
 * is up), then a stop. Waits until the cache stops growing; upstream has no cache and is left alone.
 */
export async function warmCompileCache(tb: Testbed, host: Host, cmd: DaemonCommand, extra: readonly string[]): Promise<void> {
  if (cmd.upstreamBin !== null) return;
  const dir = path.join(cacheDirectory(tb, host), 'v8');
  fs.rmSync(host.subnetFile, { force: true });
  startDaemonCommand(tb, host, cmd, extra);
  await poll('subnet.env of the warm-up start', () => readSubnetEnv(host.subnetFile), 30_000, 10);
  let last = -1;
  await poll('the code cache written by the warm-up start', () => {
    const n = fileCount(dir);
    const settled = n > 0 && n === last;
    last = n;
    return settled ? true : null;
  }, 30_000, 500);
  await tb.stopDaemon(host).catch(() => undefined);
}
