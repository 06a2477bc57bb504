// flanneld's command line, environment variables and RPM sysconfig names → validated Options. Pure: it takes argv
// and an environment and returns values; commander does the parsing after the argv is brought from Go's flag
// spellings (`-etcd-endpoints=x`, `-ip-masq`) to commander's (`--etcd-endpoints=x`, `--ip-masq=true`).
import { isIP } from 'node:net';
import { Command, CommanderError, Option } from 'commander';
import { parseIPv4 } from './net/ipv4.js';
import { formatIPv6, parseIPv6 } from './net/ipv6.js';

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
  readonly logLevel: 'info' | 'debug' | 'trace' | null;
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

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

type Kind = 'string' | 'bool' | 'list';

interface FlagSpec {
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

const FLAGS: readonly FlagSpec[] = [
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

/** commander's camelCase key of a flag (`etcd-endpoints` → `etcdEndpoints`). */
function optionKey(name: string): string {
  return name.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** `FLANNELD_ETCD_ENDPOINTS` for `etcd-endpoints`. */
export function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/[-.]/g, '_')}`;
}

/**
 * Rewrites Go flag spellings into commander's: a single-dash long flag becomes double-dash, a bare bool flag gets
 * `=true` (Go bools take a value only through `=`), and `-v=N` becomes `-v N`. Values and operands are left alone.
 */
export function normalizeArgv(args: readonly string[]): string[] {
  const out: string[] = [];
  let expectValue = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (expectValue) {
      out.push(arg);
      expectValue = false;
      continue;
    }
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (arg === '-v' || arg === '--v') {
      out.push('-v');
      expectValue = true;
      continue;
    }
    const v = /^--?v=(.*)$/.exec(arg);
    if (v) {
      out.push('-v', v[1] as string);
      continue;
    }
    const m = /^--?([A-Za-z][A-Za-z0-9_-]+)(=.*)?$/.exec(arg);
    if (!m) {
      out.push(arg);
      continue;
    }
    const name = m[1] as string;
    const value = m[2];
    const spec = SPEC_BY_NAME.get(name);
    if (spec === undefined) {
      // Not ours: may be grouped short flags of an operator command (`-ic`), so it is left as written.
      out.push(arg);
      continue;
    }
    if (value !== undefined) out.push(`--${name}${value}`);
    else if (spec.kind === 'bool') out.push(`--${name}=true`);
    else {
      out.push(`--${name}`);
      expectValue = true;
    }
  }
  return out;
}

/** `(default: "/run/flannel/subnet.env")`, `(default: 60)`, `(default: false)`; '' when there is none to show. */
function defaultText(f: FlagSpec): string {
  const d = f.defaultValue;
  if (d === undefined || d === '') return '';
  return ` (default: ${f.kind === 'bool' || /^\d+$/.test(d) ? d : JSON.stringify(d)})`;
}

/** How help shows a flag: Go bools as `--ip-masq[=<bool>]`, since a bare `--ip-masq` means true. */
function flagTerm(f: FlagSpec): string {
  return f.kind === 'bool' ? `--${f.name}[=<bool>]` : `--${f.name} <value>`;
}

/**
 * Adds every flanneld flag (and ours) to a command. Commander gets no defaults: resolveOptions applies them after
 * the environment, so help shows them in the descriptions instead.
 */
export function defineFlags(cmd: Command): Command {
  const terms = new Map<string, string>();
  for (const f of FLAGS) {
    const flags = f.kind === 'bool' ? `--${f.name} <bool>` : `--${f.name} <value>`;
    const option = new Option(flags, `${f.description}${defaultText(f)}`);
    if (f.ignored) option.hideHelp();
    if (f.kind === 'list') option.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    terms.set(flags, flagTerm(f));
    cmd.addOption(option);
  }
  cmd.addOption(new Option('-v <level>', 'log verbosity (klog style: 0 info, 2+ debug, 5+ trace)'));
  cmd.configureHelp({ optionTerm: (o) => terms.get(o.flags) ?? o.flags });
  cmd.addHelpText('after', `\n${ENV_HELP}`);
  return cmd;
}

const ENV_HELP = 'Every flag can also be given as FLANNELD_<FLAG> (e.g. FLANNELD_ETCD_ENDPOINTS); the command line wins.\n'
  + 'Go spellings work too: -etcd-endpoints=URL, -ip-masq.';

/** The daemon flags an operator sets most, with their defaults, for the top-level `tsflanneld --help`. */
export function commonFlagsHelp(): string {
  const common = FLAGS.filter((f) => f.common);
  const width = Math.max(...common.map((f) => flagTerm(f).length)) + 2;
  const lines = common.map((f) => `  ${flagTerm(f).padEnd(width)}${f.description}${defaultText(f)}`);
  return `Common flags of the daemon (all of them: tsflanneld run --help):\n${lines.join('\n')}\n\n${ENV_HELP}`;
}

/** The values commander parsed from the command line, keyed by commander's camelCase names. */
export type ParsedFlags = Readonly<Record<string, unknown>>;

function goBool(flag: string, text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new OptionsError(`invalid --${flag} "${text}": expected true or false`);
}

function integer(flag: string, text: string, min: number, max: number, hint: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t) || Number(t) < min || Number(t) > max) {
    throw new OptionsError(`invalid --${flag} "${text}": expected ${hint}`);
  }
  return Number(t);
}

function ipv4OrEmpty(flag: string, text: string): string {
  const t = text.trim();
  if (t === '') return '';
  if (parseIPv4(t) === null) throw new OptionsError(`invalid --${flag} "${text}": expected an IPv4 address such as 192.0.2.10`);
  return t;
}

function ipv6OrEmpty(flag: string, text: string): string {
  const t = text.trim();
  if (t === '') return '';
  const ip = parseIPv6(t);
  if (ip === null) throw new OptionsError(`invalid --${flag} "${text}": expected an IPv6 address such as 2001:db8::10`);
  return formatIPv6(ip);
}

function endpoints(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const hint = 'expected comma-separated URLs such as http://127.0.0.1:2379';
  if (list.length === 0) throw new OptionsError(`invalid --etcd-endpoints "${text}": ${hint}`);
  for (const e of list) {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw new OptionsError(`invalid --etcd-endpoints "${text}": "${e}" is not a URL; ${hint}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:' || url.hostname === '') {
      throw new OptionsError(`invalid --etcd-endpoints "${text}": "${e}" is not an http:// or https:// URL; ${hint}`);
    }
  }
  return list;
}

/** Go's path.Join drops a trailing slash and doubled slashes; keys are built the same way here. */
function etcdPrefix(text: string): string {
  const t = text.trim();
  if (t === '' || t === '/') throw new OptionsError(`invalid --etcd-prefix "${text}": expected a key prefix such as /coreos.com/network`);
  const joined = t.replace(/\/+/g, '/');
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

function regexes(list: string[]): string[] {
  for (const r of list) {
    try {
      new RegExp(r);
    } catch (e) {
      throw new OptionsError(`invalid --iface-regex "${r}": ${(e as Error).message}`);
    }
  }
  return list;
}

function logLevel(text: string | undefined): Options['logLevel'] {
  if (text === undefined) return null;
  const level = integer('v', text, 0, 1000, 'a verbosity level such as 0, 2 or 5');
  return level >= 5 ? 'trace' : level >= 2 ? 'debug' : 'info';
}

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
    return SPEC_BY_NAME.get(name)?.defaultValue;
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
    ifaceCanReach: ipv4OrEmpty('iface-can-reach', str('iface-can-reach')),
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

/** Turns commander's `error: unknown option '--x'` into one line without the prefix. */
export function commanderMessage(e: CommanderError): string {
  return e.message.replace(/^error:\s*/, '').split('\n')[0] ?? e.message;
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
