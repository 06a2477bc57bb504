// The real upstream flanneld as a test peer: v0.28.9 (etcd v3, current) and v0.7.1 (etcd v2, the seed's version),
// built by ../shared/upstream/build.sh. One place finds the binaries (TSF_UPSTREAM_DIR, else build.sh's default
// output folder), says in one line why a suite must skip without them, and runs one on a testbed host: its output
// goes to the host's log file and it is killed by PID with the testbed (it is the host's `daemon`).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnTracked } from './proc.js';
import { UNDERLAY_IFACE, type Host, type Testbed } from './testbed.js';

export type UpstreamVersion = 'v0.28.9' | 'v0.7.1';

/** Where the binaries are: $TSF_UPSTREAM_DIR, else build.sh's default ($XDG_CACHE_HOME or ~/.cache)/tsflanneld-upstream. */
export function upstreamDir(): string {
  const fromEnv = process.env.TSF_UPSTREAM_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'tsflanneld-upstream');
}

export function upstreamBinary(version: UpstreamVersion): string {
  return path.join(upstreamDir(), `flanneld-${version}`);
}

/** Why a suite that needs this version cannot run here (one line), or null when the binary is there. */
export function upstreamUnavailable(version: UpstreamVersion): string | null {
  const bin = upstreamBinary(version);
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return null;
  } catch {
    return `needs the real flanneld ${version} at ${bin}: build it with \`bash ../shared/upstream/build.sh\` `
      + '(needs Go) or point TSF_UPSTREAM_DIR at a folder holding it';
  }
}

export interface UpstreamRunOptions {
  /** etcd prefix; the testbed's by default. */
  readonly prefix?: string;
  readonly extraArgs?: readonly string[];
  /** Pass `-public-ip=<the host's IPv4 underlay address>` (default true); false for an IPv6-only node. */
  readonly publicIPv4?: boolean;
}

/**
 * Starts the real flanneld `version` on `host` with the testbed's etcd, the host's subnet file, eth0 and its
 * underlay address, and makes it the host's daemon (tb.waitForSubnetEnv, tb.stopDaemon and tb.killDaemon then work
 * on it, and tb.destroy kills it). Both versions take Go's single-dash flags.
 */
export function startUpstream(tb: Testbed, host: Host, version: UpstreamVersion, o: UpstreamRunOptions = {}): void {
  if (host.daemon !== null && host.daemon.exitCode === null && host.daemon.signalCode === null) {
    throw new Error(`a daemon already runs on ${host.name} (pid ${host.daemon.pid})`);
  }
  const args = [`-etcd-endpoints=${tb.etcdEndpoint}`, `-etcd-prefix=${o.prefix ?? tb.prefix}`,
    `-iface=${UNDERLAY_IFACE}`, ...(o.publicIPv4 === false ? [] : [`-public-ip=${host.ip}`]), `-subnet-file=${host.subnetFile}`,
    // v0.7.1 logs to files unless told otherwise (glog); v0.28.9 logs to stderr anyway (klog).
    ...(version === 'v0.7.1' ? ['-logtostderr'] : []), ...(o.extraArgs ?? [])];
  const out = fs.openSync(host.logFile, 'a');
  fs.writeSync(out, `--- start upstream flanneld ${version} ${new Date().toISOString()} ${args.join(' ')}\n`);
  // `ip netns exec` execs flanneld, so the PID held is flanneld's own.
  host.daemon = spawnTracked('ip', ['netns', 'exec', host.netns, upstreamBinary(version), ...args],
    { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  host.daemonStartedAt = Date.now();
}
