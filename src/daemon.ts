// Wires the parts in upstream's order (DESIGN.md "The flow of one daemon"): options → etcd → network config →
// external interface → backend → lease → subnet.env → peers, and turns the outcome into the exit code (signals:
// daemon-signals.ts; the stop sequence and its deadline: daemon-stop.ts).
import './backend/all.js';
import type { BackendRegistration, BackendSettings } from './backend/backend.js';
import { removeLeftovers } from './backend/kit/leftovers.js';
import { BackendSwitcher } from './backend/kit/switcher.js';
import { createBackend, supportedBackends, type DrivenBackend } from './backend/registry.js';
import { followConfig, nextBackendConfig } from './config-follow.js';
import type { NetworkConfig } from './config/network-config.js';
import { ConfigError, parseNetworkConfig } from './config/parse.js';
import { Lifecycle, type DaemonExtension, type LeaseContext } from './lifecycle.js';
import { routeProcessWarnings, type Logger } from './log.js';
import { formatCidr, netsEqual } from './net/ipv4.js';
import { formatCidr6 } from './net/ipv6.js';
import type { ExternalInterface } from './net/external-interface.js';
import { chooseExternalInterface } from './netlink/external-iface.js';
import { setNetlinkObserver } from './netlink/socket.js';
import type { Options } from './options.js';
import { openRegistries, waitForNetworkConfig } from './subnet/config-source.js';
import { createEtcdClient, describeEtcdError, type EtcdClientOptions, setEtcdErrorObserver } from './subnet/etcd-client.js';
import type { Lease, LeaseAttrs, LeaseEvent } from './subnet/lease.js';
import { LeaseManager } from './subnet/lease-manager.js';
import { formatSubnetEnv, readPreviousLease, SubnetEnvWriter, type PreviousLease } from './subnet/subnet-env.js';
import { lockSubnetFile, SubnetFileInUseError, type SubnetFileLock } from './subnet/subnet-file-lock.js';
import { LeaseWatcher } from './subnet/watcher.js';
import { closeUntaken, collectInheritedFds } from './reload/inbox.js';
import { TrafficManager } from './trafficmngr/traffic-manager.js';
import { timeline } from './timeline.js';
import { trimAfterStartUp } from './footprint.js';
import { processStopSignal, onSighup } from './daemon-signals.js';
import { stopAll, watchStop, type Running } from './daemon-stop.js';

/** A startup failure with a one-line message for the operator; the daemon exits 1. */
export class DaemonError extends Error {
  override readonly name = 'DaemonError';
}

export interface DaemonDeps {
  readonly log: Logger;
  /** Parts that attach to the lifecycle (ip-masq, health, sd_notify). */
  readonly extensions?: readonly DaemonExtension[];
  /** Defaults to the process's SIGTERM and SIGINT. */
  readonly stopSignal?: AbortSignal;
}

class Aborted extends Error {}

/**
 * Turns the netlink and etcd observer hooks into lifecycle notices. netlink/ and subnet/ know nothing of who counts;
 * this is the one place that connects them.
 */
export function connectObservers(lifecycle: Lifecycle): void {
  setNetlinkObserver((operation, ok) => lifecycle.notify('netlinkOperation', { operation, ok }));
  setEtcdErrorObserver((operation) => lifecycle.notify('etcdError', operation));
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Aborted();
}

/** --backend replaces the type; the config's Backend keys only make sense for the type they were written for. */
function withBackendOverride(config: NetworkConfig, override: string | null): NetworkConfig {
  if (override === null || override === config.backend.type) return config;
  return { ...config, backend: { type: override, raw: { Type: override } } };
}

function subnetEnvOf(options: Options, ctx: LeaseContext): string {
  const v4 = ctx.config.enableIPv4;
  return formatSubnetEnv({ network: v4 ? ctx.config.network : null, subnet: v4 ? ctx.lease.subnet : null, ipv6Network: ctx.config.ipv6?.network ?? null,
    ipv6Subnet: ctx.lease.ipv6Subnet ?? null, mtu: ctx.mtu, ipMasq: options.ipMasq });
}

/** Backends that program the IPv6 half of a dual-stack network; the others would leave pods without IPv6 routes. */
const IPV6_BACKENDS = ['host-gw', 'alloc', 'vxlan'];

function refuseUnfinishedIPv6(config: NetworkConfig, api: string): void {
  if (!config.ipv6) return;
  if (api === 'v2') {
    throw new DaemonError('EnableIPv6 needs the etcd v3 API (flannel on etcd v2 has no IPv6 leases): use --etcd-api=v3');
  }
  if (!IPV6_BACKENDS.includes(config.backend.type)) {
    throw new DaemonError(`EnableIPv6 with the ${config.backend.type} backend is not supported by tsflanneld yet: `
      + `use ${IPV6_BACKENDS.join(' or ')}, or set EnableIPv6 false`);
  }
}

async function startUp(options: Options, deps: DaemonDeps, lifecycle: Lifecycle, running: Running,
  signal: AbortSignal): Promise<void> {
  const log = deps.log;
  connectObservers(lifecycle);
  const regs = openRegistries(options.etcdApi, running.client, running.clientOptions, options.etcdPrefix, log);
  running.v2Client = regs.v2Client;
  const first = await waitForNetworkConfig(regs.list, log, signal);
  timeline.mark('network config read');
  const registry = first.registry;
  let config = withBackendOverride(first.config, options.backend);
  log.info({ network: config.enableIPv4 ? formatCidr(config.network) : formatCidr6(config.ipv6!.network), subnetLen: config.subnetLen, backend: config.backend.type, etcdApi: registry.api },
    'network config');
  refuseUnfinishedIPv6(config, registry.api);
  throwIfAborted(signal);
  const traffic = new TrafficManager({ nftables: config.enableNFTables, ipMasq: options.ipMasq,
    forwardRules: options.iptablesForwardRules, fullyRandomDisabled: options.ipMasqFullyRandomDisable,
    resyncSeconds: options.iptablesResync, blackholeRoute: options.ipBlackholeRoute });
  running.traffic = traffic;
  traffic.probe();
  // The lease list does not depend on the interface or the backend: read while they are set up.
  const firstList = registry.listLeases({ expiry: false });
  firstList.catch(() => undefined); // the acquisition retries with a list of its own
  registry.grantAhead?.(options.subnetLeaseTtl); // nor does the etcd lease grant the create or renewal writes with

  let extIface: ExternalInterface;
  try {
    extIface = await chooseExternalInterface({ iface: options.iface, ifaceRegex: options.ifaceRegex,
      ...(options.ifaceCanReach ? { ifaceCanReach: options.ifaceCanReach } : {}),
      ...(options.publicIP ? { publicIP: options.publicIP } : {}),
      ...(config.ipv6 ? { ipv6: { publicIPv6: options.publicIPv6 } } : {}), ipv6Only: !config.enableIPv4 });
  } catch (e) {
    throw new DaemonError(`cannot choose the external interface: ${(e as Error).message}`);
  }
  timeline.mark('external interface chosen');
  // The rules' lease-independent part (clean-up, forward rules) runs from here, beside the backend and the lease;
  // after the interface choice, so that a host without a usable interface has its tables left alone.
  void traffic.prepare(config.enableIPv4 ? config.network : null);
  log.info({ iface: extIface.name, ifaceAddr: extIface.ifaceAddr, extAddr: extIface.extAddr, mtu: extIface.mtu,
    ...(extIface.extAddr6 ? { ifaceAddr6: extIface.ifaceAddr6, extAddr6: extIface.extAddr6 } : {}) },
    'using external interface');

  const settings: BackendSettings = { vxlan: { datapath: options.vxlanDatapath, busyPoll: options.vxlanBusyPoll,
    allowForeignSource: options.vxlanAllowForeignSource, sendPath: options.vxlanSendPath,
    loopPriority: options.vxlanLoopPriority } };
  const build = (cfg: NetworkConfig): DrivenBackend => {
    const b = createBackend(cfg.backend.type, {
      extIface, network: cfg, stateDir: options.stateDir, log,
      // A backend that had to change its BackendData (a VtepMAC clash) gets it into our lease.
      republish: (backendData) => running.leases?.republish({ backendData }),
      republishV6: (backendV6Data) => running.leases?.republish({ backendV6Data }),
    }, settings);
    if (b === null) {
      throw new DaemonError(`unknown backend type "${cfg.backend.type}": use one of ${supportedBackends().join(', ')}`
        + ' (Backend.Type in the network config, or --backend)');
    }
    return b;
  };
  const switcher = new BackendSwitcher(build(config), log);
  running.backend = switcher;
  // Devices and routes of another backend (an earlier run before a Backend.Type change) would bypass this one.
  await removeLeftovers(switcher.current.claims(), config.network, log);
  timeline.mark('leftovers checked');
  let registration: BackendRegistration = await switcher.current.register();
  closeUntaken(log);
  timeline.mark('backend registered');
  throwIfAborted(signal);

  const attrs: LeaseAttrs = { publicIP: extIface.extAddr, publicIPv6: extIface.extAddr6 ?? null, backendType: registration.backendType,
    ...(registration.backendData !== undefined ? { backendData: registration.backendData } : {}),
    ...(registration.backendV6Data !== undefined ? { backendV6Data: registration.backendV6Data } : {}) };
  // Read before this run rewrites the file: the lease manager prefers the old subnet, the rules drop the old ones.
  const previousRun = readPreviousLease(options.subnetFile);
  const leases = new LeaseManager({ registry, config, attrs, previousSubnet: previousRun.subnet,
    previousIPv6Subnet: previousRun.ipv6Subnet ?? null, firstList,
    ttlSeconds: options.subnetLeaseTtl, renewMarginMinutes: options.subnetLeaseRenewMargin, log });
  running.leases = leases;
  let own: Lease;
  try {
    own = await leases.acquire(signal);
  } finally {
    registry.dropGrantAhead?.(); // not taken: a reservation was used, or no lease came
  }
  timeline.mark('lease acquired');
  throwIfAborted(signal);
  log.info({ subnet: formatCidr(own.subnet), ...(own.ipv6Subnet ? { ipv6Subnet: formatCidr6(own.ipv6Subnet) } : {}) },
    'acquired lease');

  const ctxOf = (lease: Lease, previous: PreviousLease): LeaseContext => ({ options, config, extIface, lease,
    mtu: registration.mtu, previous, backendCounters: () => switcher.current.counters(), trafficCounters: () => traffic.counters() });
  const applyRules = async (ctx: LeaseContext): Promise<void> => {
    const v4 = config.enableIPv4;
    await traffic.start({ network: v4 ? config.network : null, subnet: v4 ? ctx.lease.subnet : null,
      prevNetwork: v4 ? ctx.previous.network : null, prevSubnet: v4 ? ctx.previous.subnet : null,
      ipv6: config.ipv6 && ctx.lease.ipv6Subnet ? { network: config.ipv6.network, subnet: ctx.lease.ipv6Subnet } : null,
      prevIPv6: { network: ctx.previous.ipv6Network ?? null, subnet: ctx.previous.ipv6Subnet ?? null } });
    await lifecycle.run('rulesInPlace', ctx);
  };

  let ownCtx = ctxOf(own, previousRun);
  await switcher.current.start(own);
  timeline.mark('backend started');
  await applyRules(ownCtx);
  timeline.mark('rules in place');
  throwIfAborted(signal);
  // Not ready (no READY=1, /readyz 503) until subnet.env is written: Docker/CNI would read a stale or missing file.
  // The lease is kept and peers are programmed meanwhile.
  const subnetEnv = new SubnetEnvWriter(options.subnetFile, log);
  running.subnetEnv = subnetEnv;
  let announced = false;
  const announceReady = async (): Promise<void> => {
    if (announced) return;
    announced = true;
    await lifecycle.run('ready', { ...ownCtx, subnetFile: options.subnetFile });
    trimAfterStartUp();
  };
  const writtenLate = (): void => {
    lifecycle.notify('subnetFile', { written: true });
    void announceReady().catch((e: unknown) => log.error(`after writing the subnet file: ${(e as Error).message}`));
  };
  /** Writes subnet.env for the current lease; true if written now, else retried (calling writtenLate on success). */
  const writeSubnetEnv = (): boolean => {
    const written = subnetEnv.write(subnetEnvOf(options, ownCtx), writtenLate);
    lifecycle.notify('subnetFile', { written });
    return written;
  };
  if (writeSubnetEnv()) {
    timeline.mark('subnet.env written');
    await announceReady();
    timeline.mark('ready');
  }

  leases.on('reacquired', (lease: Lease, previous: Lease) => {
    own = lease;
    lifecycle.notify('leaseReacquired', { changed: !netsEqual(lease.subnet, previous.subnet)
      || (lease.ipv6Subnet?.ip !== previous.ipv6Subnet?.ip) });
    // The subnet that stopped being ours is now a peer's: route it like any other peer's.
    running.watcher?.ownSubnetChanged();
    log.warn({ subnet: formatCidr(lease.subnet) }, 'lease re-acquired');
    // start() is queued behind the peer updates already given to the backend, and before later ones.
    void switcher.current.start(lease).then(async () => {
      ownCtx = ctxOf(lease, { network: config.network, subnet: previous.subnet,
        ipv6Network: config.ipv6?.network ?? null, ipv6Subnet: previous.ipv6Subnet ?? null });
      await applyRules(ownCtx);
      if (writeSubnetEnv()) writtenLate();
      await lifecycle.run('leaseChanged', ownCtx);
    }).catch((e: unknown) => log.error(`backend start with the re-acquired lease failed: ${(e as Error).message}`));
  });
  leases.on('renewed', (renewed: Lease) => lifecycle.notify('leaseRenewed', renewed));
  leases.on('lost', (lost: Lease) => log.warn({ subnet: formatCidr(lost.subnet) }, 'lease lost; re-acquiring'));
  leases.keep();

  const watcher = new LeaseWatcher({ registry, ownSubnet: () => own.subnet, log,
    // IPv6-only: no IPv4 rules; lease-rules judges the IPv6 half alone.
    ...(config.enableIPv4 ? { network: config.network, subnetLen: config.subnetLen, ownPublicIP: attrs.publicIP } : {}),
    ipv6Rules: () => (config.ipv6 ? { network: config.ipv6.network, subnetLen: config.ipv6.subnetLen,
      ownSubnet: own.ipv6Subnet ?? null, ownPublicIPv6: attrs.publicIPv6 } : null) });
  running.watcher = watcher;
  watcher.start({
    reset: (peers: Lease[]) => {
      lifecycle.notify('peers', { kind: 'reset', peers });
      switcher.update({ kind: 'reset', peers });
    },
    events: (events: LeaseEvent[]) => {
      lifecycle.notify('peers', { kind: 'events', events });
      switcher.update({ kind: 'events', events });
    },
  });
  running.follower = followConfig({
    registry, initial: first.text, log,
    onChange: async (text) => {
      const next = nextBackendConfig(text, config, (t) => withBackendOverride(parseNetworkConfig(t), options.backend), log);
      if (next === null) return;
      const from = { type: config.backend.type, mtu: registration.mtu };
      let built: DrivenBackend;
      try {
        refuseUnfinishedIPv6(next, registry.api);
        built = build(next);
      } catch (e) {
        log.error(`the changed Backend config is ignored, ${from.type} keeps running: ${(e as Error).message}`);
        return;
      }
      try {
        config = next;
        registration = await switcher.switchTo(built, config.network, own);
      } catch (e) {
        log.error(`switching the backend from ${from.type} to ${next.backend.type} failed: ${(e as Error).message}`);
        return;
      }
      leases.republish({ backendType: registration.backendType, backendData: registration.backendData,
        backendV6Data: registration.backendV6Data });
      ownCtx = ctxOf(own, ownCtx.previous);
      if (writeSubnetEnv()) writtenLate();
      await lifecycle.run('leaseChanged', ownCtx);
      log.info({ from: from.type, to: registration.backendType, mtu: registration.mtu },
        `backend switched from ${from.type} to ${registration.backendType} (FLANNEL_MTU ${from.mtu} → ${registration.mtu})`);
    },
  });
  timeline.mark('running');
  log.info('running');
  running.reloadable = true;
}

/**
 * Runs the daemon until a stop signal; resolves to the process exit status: 0 after a clean stop, 1 after a startup
 * failure (already logged as one line).
 */
export async function runDaemon(options: Options, deps: DaemonDeps): Promise<number> {
  const log = deps.log;
  if (options.logLevel !== null) log.level = options.logLevel;
  routeProcessWarnings(log);
  timeline.attach(log.child({ component: 'timeline' }));
  const signal = deps.stopSignal ?? processStopSignal(log);
  // A bug in a background task must not end the daemon with a stack trace on stderr: one log line, keep running
  // (the lease and datapath stay as they are).
  process.on('unhandledRejection', (e: unknown) => {
    log.error({ err: e }, `internal error in a background task: ${e instanceof Error ? e.message : String(e)}`);
  });
  // Before anything opens fds of its own: the TUN queues and sockets a previous process (re-exec, fd store) left us.
  collectInheritedFds(log);
  const lifecycle = new Lifecycle();
  for (const attach of deps.extensions ?? []) attach(lifecycle, options);

  let subnetFileLock: SubnetFileLock;
  try {
    subnetFileLock = lockSubnetFile(options.subnetFile);
  } catch (e) {
    log.fatal(e instanceof SubnetFileInUseError ? e.message : `cannot lock --subnet-file ${options.subnetFile}: ${(e as Error).message}`);
    return 1;
  }
  // Released on every way out of here; a crash leaves a stale lock that the next start takes over.
  process.once('exit', () => subnetFileLock.release());

  let running: Running;
  try {
    const clientOptions: EtcdClientOptions = { endpoints: options.etcdEndpoints, keyfile: options.etcdKeyfile,
      certfile: options.etcdCertfile, cafile: options.etcdCafile, username: options.etcdUsername,
      password: options.etcdPassword };
    running = { client: createEtcdClient(clientOptions, log), clientOptions };
    timeline.mark('etcd client created');
  } catch (e) {
    log.fatal((e as Error).message);
    return 1;
  }

  if (deps.stopSignal === undefined) onSighup(log, () => running.reloadable === true, signal);

  const { stopped, disarm } = watchStop(signal, log);
  // A stop signal during start-up does not wait for the step in progress (it may be an etcd call running into its
  // deadline); that step sees the aborted signal and goes no further.
  const started = startUp(options, deps, lifecycle, running, signal).then(() => null, (e: unknown) => e);
  const failure = await Promise.race([started, stopped]);
  if (failure !== 'stopped' && failure !== null && !(failure instanceof Aborted) && !signal.aborted) {
    log.fatal(failure instanceof DaemonError || failure instanceof ConfigError ? failure.message : describeEtcdError(failure));
    await stopAll(running, lifecycle, log);
    return 1;
  }
  await stopped;
  await stopAll(running, lifecycle, log);
  disarm();
  log.info('Exiting cleanly...');
  return 0;
}
