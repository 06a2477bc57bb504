// flanneld's command line, environment variables and RPM sysconfig names → validated Options. Pure: it takes argv
// and an environment and returns values; commander does the parsing after the argv is brought from Go's flag
// spellings (`-etcd-endpoints=x`, `-ip-masq`) to commander's (`--etcd-endpoints=x`, `--ip-masq=true`).
import { isIP } from 'node:net';
import { Command, CommanderError } from 'commander';
import { commanderMessage, defineFlags, normalizeArgv } from './options/command-line.js';
import { envName, flagSpec, optionKey } from './options/flag-table.js';
import {
  OptionsError, endpoints, etcdPrefix, goBool, integer, ipOrEmpty, ipv4OrEmpty, ipv6OrEmpty, logLevel, regexes, type LogLevel,
} from './options/values.js';

// Where these lived before the split; other modules import them from here.
export { commanderMessage, commonFlagsHelp, defineFlags, normalizeArgv } from './options/command-line.js';
export { envName } from './options/flag-table.js';
export { OptionsError } from './options/values.js';

export type VxlanDatapath = 'userspace' | 'kernel';

export interface Options {
  readonly etcdEndpoints: string[];
  readonly etcdPrefix: string;
  readonly etcdKeyfile: string;
  readonly etcdCertfile: string;
  readonly etcdCafile: string;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  /** --etcd-api: which etcd API holds the network; auto = v3 if its config key exists, else v2 if that one does. */
  readonly etcdApi: 'v3' | 'v2' | 'auto';
  /** --iface, in the order given: interface names or IPs. */
  readonly iface: string[];
  readonly ifaceRegex: string[];
  /** Dotted quad, or '' when not set. */
  readonly ifaceCanReach: string;
  /** Dotted quad, or '' when not set. */
  readonly publicIP: string;
  /** --public-ipv6: what peers send IPv6 to (with EnableIPv6); '' = the interface's global IPv6 address. */
  readonly publicIPv6: string;
  readonly subnetFile: string;
  /** Minutes before expiry at which the lease is renewed (1..1439). */
  readonly subnetLeaseRenewMargin: number;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  /** Seconds. */
  readonly iptablesResync: number;
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly healthzIP: string;
  /** 0 = no health server. */
  readonly healthzPort: number;
  readonly version: boolean;
  /** From klog's -v; null when not given (the logger keeps its own level). */
  readonly logLevel: LogLevel | null;
  /** --backend: overrides the config's Backend.Type on this node; null = use the config. */
  readonly backend: string | null;
  readonly vxlanDatapath: VxlanDatapath;
  /** µs a userspace datapath loop keeps polling after traffic before it sleeps. */
  readonly vxlanBusyPoll: number;
  /** The userspace datapath delivers inner sources outside the sending peer's subnet (weakens anti-injection). */
  readonly vxlanAllowForeignSource: boolean;
  /** --vxlan-send-path: how the userspace datapath sends TSO frames (src/datapath/send-path.ts). */
  readonly vxlanSendPath: 'auto' | 'tunnel-gso' | 'segment';
  /** --vxlan-loop-priority: SCHED_FIFO priority of the userspace datapath's loop threads (0: normal scheduling). */
  readonly vxlanLoopPriority: number;
  readonly stateDir: string;
  /** Seconds; upstream's fixed 24 h unless a test shortens it. */
  readonly subnetLeaseTtl: number;
}

/** The values commander parsed from the command line, keyed by commander's camelCase names. */
export type ParsedFlags = Readonly<Record<string, unknown>>;

/**
 * Applies the precedence of flanneld (and its RPM wrapper): command line ▸ FLANNELD_<FLAG> ▸ sysconfig names
 * (FLANNEL_ETCD_ENDPOINTS, FLANNEL_ETCD_PREFIX, older FLANNEL_ETCD, FLANNEL_ETCD_KEY) ▸ default; then validates.
 */
export function resolveOptions(flags: ParsedFlags, env: NodeJS.ProcessEnv): Options {
  const sysconfig: Record<string, string[]> = {
    'etcd-endpoints': ['FLANNEL_ETCD_ENDPOINTS', 'FLANNEL_ETCD'],
    'etcd-prefix': ['FLANNEL_ETCD_PREFIX', 'FLANNEL_ETCD_KEY'],
  };
  const raw = (name: string): string | undefined => {
    const cli = flags[optionKey(name)];
    if (typeof cli === 'string') return cli;
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined) return fromEnv;
    for (const n of sysconfig[name] ?? []) {
      const v = env[n];
      if (v !== undefined && v !== '') return v;
    }
    return flagSpec(name)?.defaultValue;
  };
  const str = (name: string): string => raw(name) ?? '';
  const bool = (name: string): boolean => goBool(name, str(name));
  const list = (name: string): string[] => {
    const cli = flags[optionKey(name)];
    if (Array.isArray(cli)) return cli as string[];
    const fromEnv = env[envName(name)];
    return fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : [];
  };

  if (bool('kube-subnet-mgr')) {
    throw new OptionsError('--kube-subnet-mgr is not supported by tsflanneld: use etcd (--etcd-endpoints, --etcd-prefix)');
  }
  const healthzIP = str('healthz-ip').trim();
  if (isIP(healthzIP) === 0) {
    throw new OptionsError(`invalid --healthz-ip "${healthzIP}": expected an IP address such as 0.0.0.0 or 127.0.0.1`);
  }
  const sendPath = str('vxlan-send-path').trim();
  if (sendPath !== 'auto' && sendPath !== 'tunnel-gso' && sendPath !== 'segment') {
    throw new OptionsError(`invalid --vxlan-send-path "${sendPath}": expected auto, tunnel-gso or segment`);
  }
  const datapath = str('vxlan-datapath').trim();
  if (datapath !== 'userspace' && datapath !== 'kernel') {
    throw new OptionsError(`invalid --vxlan-datapath "${datapath}": expected userspace or kernel`);
  }
  const backend = str('backend').trim().toLowerCase();
  if (backend !== '' && !/^[a-z0-9][a-z0-9-]*$/.test(backend)) {
    throw new OptionsError(`invalid --backend "${backend}": expected a backend type such as vxlan, host-gw or alloc`);
  }
  const stateDir = str('state-dir').trim();
  if (stateDir === '') throw new OptionsError('invalid --state-dir "": expected a directory such as /var/lib/tsflanneld');
  const subnetFile = str('subnet-file').trim();
  if (subnetFile === '') throw new OptionsError('invalid --subnet-file "": expected a file such as /run/flannel/subnet.env');
  const etcdApi = str('etcd-api').trim().toLowerCase();
  if (etcdApi !== 'v3' && etcdApi !== 'v2' && etcdApi !== 'auto') {
    throw new OptionsError(`invalid --etcd-api "${str('etcd-api')}": expected v3, v2 or auto`);
  }
  const vFlag = flags.v;

  return {
    etcdEndpoints: endpoints(str('etcd-endpoints')),
    etcdPrefix: etcdPrefix(str('etcd-prefix')),
    etcdKeyfile: str('etcd-keyfile'),
    etcdCertfile: str('etcd-certfile'),
    etcdCafile: str('etcd-cafile'),
    etcdUsername: str('etcd-username'),
    etcdPassword: str('etcd-password'),
    etcdApi,
    iface: list('iface').map((s) => s.trim()).filter((s) => s !== ''),
    ifaceRegex: regexes(list('iface-regex')),
    ifaceCanReach: ipOrEmpty('iface-can-reach', str('iface-can-reach')),
    publicIP: ipv4OrEmpty('public-ip', str('public-ip')),
    publicIPv6: ipv6OrEmpty('public-ipv6', str('public-ipv6')),
    subnetFile,
    subnetLeaseRenewMargin: integer('subnet-lease-renew-margin', str('subnet-lease-renew-margin'), 1, 1439,
      'minutes between 1 and 1439'),
    ipMasq: bool('ip-masq'),
    ipMasqFullyRandomDisable: bool('ip-masq-fully-random-disable'),
    iptablesResync: integer('iptables-resync', str('iptables-resync'), 1, 86400, 'seconds between 1 and 86400'),
    iptablesForwardRules: bool('iptables-forward-rules'),
    ipBlackholeRoute: bool('ip-blackhole-route'),
    healthzIP,
    healthzPort: integer('healthz-port', str('healthz-port'), 0, 65535, 'a port between 0 (off) and 65535'),
    version: bool('version'),
    logLevel: logLevel(typeof vFlag === 'string' ? vFlag : env.FLANNELD_V),
    backend: backend === '' ? null : backend,
    vxlanDatapath: datapath,
    vxlanBusyPoll: integer('vxlan-busy-poll', str('vxlan-busy-poll'), 0, 10000, 'microseconds between 0 (off) and 10000'),
    vxlanAllowForeignSource: bool('vxlan-allow-foreign-source'),
    vxlanSendPath: sendPath,
    vxlanLoopPriority: integer('vxlan-loop-priority', str('vxlan-loop-priority'), 0, 99, 'a SCHED_FIFO priority between 0 (off) and 99'),
    stateDir,
    subnetLeaseTtl: integer('subnet-lease-ttl', str('subnet-lease-ttl'), 5, 10 * 365 * 86400,
      'seconds, at least 5 (upstream uses 86400)'),
  };
}

/** Parses a daemon command line (without node and script) and the environment into validated Options. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const cmd = defineFlags(new Command('tsflanneld'))
    .exitOverride()
    .helpOption(false)
    .allowExcessArguments(false)
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  try {
    cmd.parse(normalizeArgv(argv), { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new OptionsError(commanderMessage(e));
    throw e;
  }
  return resolveOptions(cmd.opts(), env);
}
