// "A daemon command": how the benchmark starts tsflanneld (node dist/src/cli.js, through the testbed) or the real
// upstream flanneld binary in a testbed host's namespace, so that every measurement is written once for both.
// Upstream runs with the same etcd, prefix, interface, public IP and subnet file; it writes no state dir. Its process
// is recorded as the host's daemon, so the testbed's stop, kill and destroy (by PID, then by namespace) cover it.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { UNDERLAY_IFACE, type Host, type Testbed } from '../test/support/testbed.js';

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

/** Starts the daemon in the host's namespace, its output appended to host.logFile; does not wait. */
export function startDaemonCommand(tb: Testbed, host: Host, cmd: DaemonCommand, extra: readonly string[] = []): ChildProcess {
  if (cmd.upstreamBin === null) return tb.startDaemon(host, [...cmd.args, ...extra]);
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
