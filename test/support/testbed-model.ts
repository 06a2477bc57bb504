// The shapes a Testbed hands to tests (hosts, containers) and takes from them (options), apart from the class
// that builds them so testbed.ts stays one concept: building and tearing down the namespaces.
import type { ChildProcess } from 'node:child_process';

export interface Host {
  /** 1-based. */
  readonly index: number;
  /** `h1`, `h2`, … */
  readonly name: string;
  readonly netns: string;
  /** Underlay address, 192.0.2.(10+index). */
  readonly ip: string;
  readonly subnetFile: string;
  readonly stateDir: string;
  readonly logFile: string;
  daemon: ChildProcess | null;
  /** When startDaemon last ran (ms since epoch): a subnet.env older than this is from an earlier run. */
  daemonStartedAt: number;
  readonly containers: Container[];
}

export interface Container {
  readonly name: string;
  readonly netns: string;
  readonly host: Host;
  /** Address on the container's eth0, inside the host's subnet. */
  readonly ip: string;
  readonly mtu: number;
}

export interface TestbedOptions {
  readonly hosts: number;
  /** Start etcd on h1 (default true). */
  readonly etcd?: boolean;
  /** etcd prefix given to every daemon (default /usr/local/bin/network). */
  readonly prefix?: string;
  /** Serve the etcd v2 keys API too (`--enable-v2`), as a flannel 0.7 cluster's etcd does. */
  readonly etcdV2?: boolean;
  /** The network config to put in etcd once it runs (the JSON of `<prefix>/config`). */
  readonly config?: unknown;
}

export interface AddContainerOptions {
  /** `ethtool -K <veth> tx off` on both ends, needed for userspace-datapath interop (datapath-ceilings.md Trap 1). */
  readonly txChecksumOff?: boolean;
}
