// Attaches the operator-facing parts to the daemon's lifecycle: ip-masq/FORWARD rules (trafficRules), sd_notify
// READY=1 and /readyz (ready), the health server and the status file, STOPPING=1 on exit.
import fs from 'node:fs';
import type { Lifecycle, LeaseContext } from '../lifecycle.js';
import { log as rootLog } from '../log.js';
import { formatCidr, parseCidr, type Ipv4Net } from '../net/ipv4.js';
import type { Options } from '../options.js';
import { parseSubnetEnv } from '../subnet/subnet-env.js';
import { TrafficManager } from '../trafficmngr/traffic-manager.js';
import { startHealthServer, type HealthServer } from './http.js';
import { metrics, recordOwnLeaseExpiry } from './metrics.js';
import { Readiness } from './readiness.js';
import { notifyReady, notifyStatus, notifyStopping } from './sd-notify.js';
import { removeStateFile, stateFilePath, writeStateFile } from './state-file.js';

const STATE_FILE_PERIOD_MS = 5000;

/** The previous run's FLANNEL_NETWORK / FLANNEL_SUBNET (host bits masked), read before subnet.env is rewritten. */
export function readPreviousNetworkAndSubnet(subnetFile: string): { network: Ipv4Net | null; subnet: Ipv4Net | null } {
  let vars: Record<string, string> = {};
  try {
    vars = parseSubnetEnv(fs.readFileSync(subnetFile, 'utf8'));
  } catch { /* no previous file */ }
  const cidr = (v: string | undefined): Ipv4Net | null => (v === undefined ? null : parseCidr(v));
  return { network: cidr(vars.FLANNEL_NETWORK), subnet: cidr(vars.FLANNEL_SUBNET) };
}

export function leaseStatusLine(ctx: LeaseContext): string {
  const type = ctx.lease.attrs.backendType ?? 'udp';
  return `Lease ${formatCidr(ctx.lease.subnet)} of ${formatCidr(ctx.config.network)}, PublicIP ${ctx.lease.attrs.publicIP}, `
    + `backend ${type}, MTU ${ctx.mtu}`;
}

/** The DaemonExtension: `attachOperations(lifecycle, options)`. Exported pieces are for tests. */
export function attachOperations(lifecycle: Lifecycle, options: Options): OperationsHandle {
  return new OperationsHandle(lifecycle, options);
}

export class OperationsHandle {
  readonly readiness = new Readiness();
  private readonly log = rootLog.child({ component: 'ops' });
  private readonly health: Promise<HealthServer | null>;
  private traffic: TrafficManager | null = null;
  private stateTimer: NodeJS.Timeout | null = null;
  private current: LeaseContext | null = null;
  private readonly stateFile: string;

  constructor(lifecycle: Lifecycle, private readonly options: Options) {
    this.stateFile = stateFilePath(options.subnetFile);
    // Started before the lease, so /healthz answers (and /readyz says 503) while the daemon is still starting.
    this.health = options.healthzPort > 0
      ? startHealthServer({ ip: options.healthzIP, port: options.healthzPort, readiness: this.readiness, registry: metrics.registry })
      : Promise.resolve(null);
    this.health.catch(() => undefined); // reported by the trafficRules hook, which fails the start-up
    lifecycle
      .on('trafficRules', (ctx) => this.onTrafficRules(ctx))
      .on('ready', (ctx) => this.onReady(ctx))
      .on('leaseChanged', (ctx) => this.onLeaseChanged(ctx))
      .on('stopping', () => this.onStopping());
  }

  private async onTrafficRules(ctx: LeaseContext): Promise<void> {
    const server = await this.health;
    if (server !== null) this.log.info({ address: `${server.address.address}:${server.address.port}` }, 'health server listening');
    const prev = readPreviousNetworkAndSubnet(this.options.subnetFile);
    await this.applyRules(ctx, prev.network, prev.subnet);
  }

  private async applyRules(ctx: LeaseContext, prevNetwork: Ipv4Net | null, prevSubnet: Ipv4Net | null): Promise<void> {
    this.traffic?.stop();
    const o = this.options;
    this.traffic = new TrafficManager({
      nftables: ctx.config.enableNFTables, ipMasq: o.ipMasq, forwardRules: o.iptablesForwardRules,
      fullyRandomDisabled: o.ipMasqFullyRandomDisable, resyncSeconds: o.iptablesResync, blackholeRoute: o.ipBlackholeRoute,
      onRebuild: () => metrics.iptablesRebuilds.inc(),
    });
    await this.traffic.start({ network: ctx.config.network, subnet: ctx.lease.subnet, prevNetwork, prevSubnet });
    this.readiness.markRulesInPlace();
    recordOwnLeaseExpiry(ctx.lease.expiration);
  }

  private onReady(ctx: LeaseContext): void {
    this.current = ctx;
    this.readiness.markSubnetFileWritten();
    recordOwnLeaseExpiry(ctx.lease.expiration);
    notifyReady(leaseStatusLine(ctx));
    this.writeState();
    this.stateTimer = setInterval(() => this.writeState(), STATE_FILE_PERIOD_MS);
    this.stateTimer.unref();
  }

  private async onLeaseChanged(ctx: LeaseContext): Promise<void> {
    const old = this.current;
    this.current = ctx;
    await this.applyRules(ctx, old?.config.network ?? null, old?.lease.subnet ?? null);
    notifyStatus(leaseStatusLine(ctx));
    this.writeState();
  }

  private async onStopping(): Promise<void> {
    notifyStopping();
    this.traffic?.stop();
    if (this.stateTimer !== null) clearInterval(this.stateTimer);
    removeStateFile(this.stateFile);
    const server = await this.health.catch(() => null);
    await server?.close();
  }

  private writeState(): void {
    const ctx = this.current;
    if (ctx === null) return;
    const server = this.healthAddress();
    try {
      writeStateFile(this.stateFile, {
        pid: process.pid, updated: new Date().toISOString(), subnet: formatCidr(ctx.lease.subnet),
        publicIP: ctx.lease.attrs.publicIP, backendType: ctx.lease.attrs.backendType ?? 'udp', mtu: ctx.mtu,
        healthz: server,
        counters: { ...metrics.readCounters(), ...prefixed('traffic_', this.traffic?.counters() ?? {}) },
      });
    } catch (err) {
      this.log.debug({ err: (err as Error).message, file: this.stateFile }, 'cannot write the status file');
    }
  }

  private healthAddress(): string | null {
    if (this.options.healthzPort <= 0) return null;
    const ip = this.options.healthzIP === '0.0.0.0' || this.options.healthzIP === '' ? '127.0.0.1' : this.options.healthzIP;
    return `http://${ip}:${this.options.healthzPort}`;
  }
}

function prefixed(prefix: string, o: object): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}${k}`, Number(v)]));
}
