// The table of flanneld's flags (and ours): names, kinds, defaults and help text, and the two names derived from a
// flag: commander's option key and the FLANNELD_* environment variable. Everything else about flags reads this table.

export type Kind = 'string' | 'bool' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly kind: Kind;
  readonly description: string;
  /** Shown in --help; applied after CLI and environment. */
  readonly defaultValue?: string;
  /** Accepted for compatibility and ignored (kube mode, klog). */
  readonly ignored?: boolean;
  /** Listed in the top-level `tsflanneld --help`. */
  readonly common?: boolean;
}


const DEFAULT_ENDPOINTS = 'http://127.0.0.1:4001,http://127.0.0.1:2379';

export const FLAGS: readonly FlagSpec[] = [
  { name: 'etcd-endpoints', common: true, kind: 'string', defaultValue: DEFAULT_ENDPOINTS, description: 'comma-separated etcd URLs' },
  { name: 'etcd-prefix', common: true, kind: 'string', defaultValue: '/coreos.com/network', description: 'etcd prefix of the network config and leases' },
  { name: 'etcd-keyfile', kind: 'string', defaultValue: '', description: 'TLS client key file' },
  { name: 'etcd-certfile', kind: 'string', defaultValue: '', description: 'TLS client certificate file' },
  { name: 'etcd-cafile', kind: 'string', defaultValue: '', description: 'TLS CA file' },
  { name: 'etcd-username', kind: 'string', defaultValue: '', description: 'etcd user name' },
  { name: 'etcd-password', kind: 'string', defaultValue: '', description: 'etcd password' },
  { name: 'etcd-api', common: true, kind: 'string', defaultValue: 'auto', description: 'etcd API of the network: v3, v2 (flannel 0.7 clusters) or auto (v3 when its config key exists, else v2)' },
  { name: 'iface', common: true, kind: 'list', description: 'interface (name or IP) for inter-host traffic; repeatable, tried in order' },
  { name: 'iface-regex', kind: 'list', description: 'regex matched against interface IPs, then names; repeatable' },
  { name: 'iface-can-reach', kind: 'string', defaultValue: '', description: 'use the interface that routes to this IP' },
  { name: 'public-ip', common: true, kind: 'string', defaultValue: '', description: 'IP that peers send to (default: the interface IP)' },
  { name: 'public-ipv6', kind: 'string', defaultValue: '', description: 'IPv6 that peers send to (default: the interface\'s global IPv6)' },
  { name: 'subnet-file', common: true, kind: 'string', defaultValue: '/run/flannel/subnet.env', description: 'file to write the subnet env to' },
  { name: 'subnet-lease-renew-margin', kind: 'string', defaultValue: '60', description: 'minutes before expiry to renew the lease (1..1439)' },
  { name: 'ip-masq', common: true, kind: 'bool', defaultValue: 'false', description: 'masquerade traffic leaving the flannel network' },
  { name: 'ip-masq-fully-random-disable', kind: 'bool', defaultValue: 'false', description: 'no --random-fully on MASQUERADE rules' },
  { name: 'iptables-resync', kind: 'string', defaultValue: '5', description: 'seconds between iptables rule checks' },
  { name: 'iptables-forward-rules', kind: 'bool', defaultValue: 'true', description: 'add FORWARD ACCEPT rules for the network' },
  { name: 'ip-blackhole-route', kind: 'bool', defaultValue: 'false', description: 'add a blackhole route for the own subnet' },
  { name: 'healthz-ip', kind: 'string', defaultValue: '0.0.0.0', description: 'address of the health server' },
  { name: 'healthz-port', common: true, kind: 'string', defaultValue: '0', description: 'port of the health server; 0 turns it off' },
  { name: 'version', kind: 'bool', defaultValue: 'false', description: 'print the version and exit' },
  { name: 'backend', common: true, kind: 'string', defaultValue: '', description: 'backend type on this node, overriding the config\'s Backend.Type' },
  { name: 'vxlan-datapath', common: true, kind: 'string', defaultValue: 'userspace', description: 'vxlan datapath: userspace|kernel' },
  // DEFAULT_SPIN_MICROS of src/datapath (not imported: options stay free of the datapath; a unit test ties the two).
  { name: 'vxlan-busy-poll', kind: 'string', defaultValue: '200', description: 'µs a userspace datapath loop polls after traffic before it sleeps (0: off)' },
  { name: 'vxlan-send-path', kind: 'string', defaultValue: 'auto', description: 'userspace datapath send path: auto|tunnel-gso|segment (tunnel-gso: the kernel segments whole VXLAN frames, Linux 6.17+; segment: the datapath does; auto: tunnel-gso where the kernel has it)' },
  { name: 'vxlan-loop-priority', kind: 'string', defaultValue: '0', description: 'userspace datapath: SCHED_FIFO priority 1-99 for the loop threads, so that on a busy host a packet never waits for a CPU (needs CAP_SYS_NICE and RestrictRealtime=no; 0: normal scheduling)' },
  { name: 'vxlan-allow-foreign-source', kind: 'bool', defaultValue: 'false', description: 'userspace datapath: accept received packets whose inner source is outside the sending peer\'s subnet (risk: a spoofed peer address can inject any source)' },
  { name: 'state-dir', kind: 'string', defaultValue: '/var/lib/tsflanneld', description: 'directory for state kept across restarts' },
  { name: 'subnet-lease-ttl', kind: 'string', defaultValue: '86400', description: 'lease TTL in seconds (advanced, for tests)' },
  // Kubernetes subnet manager flags: accepted so that shared unit files parse; kube mode itself is refused.
  { name: 'kube-subnet-mgr', kind: 'bool', defaultValue: 'false', description: 'not supported by tsflanneld: use etcd' },
  { name: 'kube-api-url', kind: 'string', ignored: true, description: 'ignored (kube mode)' },
  { name: 'kubeconfig-file', kind: 'string', ignored: true, description: 'ignored (kube mode)' },
  { name: 'kube-annotation-prefix', kind: 'string', ignored: true, description: 'ignored (kube mode)' },
  { name: 'net-config-path', kind: 'string', ignored: true, description: 'ignored (kube mode)' },
  { name: 'set-node-network-unavailable', kind: 'bool', ignored: true, description: 'ignored (kube mode)' },
  // klog flags besides -v.
  { name: 'vmodule', kind: 'string', ignored: true, description: 'ignored (klog)' },
  { name: 'log_backtrace_at', kind: 'string', ignored: true, description: 'ignored (klog)' },
  { name: 'logtostderr', kind: 'bool', ignored: true, description: 'ignored (logs always go to stderr)' },
];

const SPEC_BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

/** The spec of a flag by its name, undefined when the name is not one of ours. */
export function flagSpec(name: string): FlagSpec | undefined {
  return SPEC_BY_NAME.get(name);
}

/** commander's camelCase key of a flag (`etcd-endpoints` → `etcdEndpoints`). */
export function optionKey(name: string): string {
  return name.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** `FLANNELD_ETCD_ENDPOINTS` for `etcd-endpoints`. */
export function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/[-.]/g, '_')}`;
}
