// Keeps a backend's kernel state so: watches links (and whatever else the backend asks for) through the netlink
// monitor, checks everything periodically, re-creates a lost device with backoff and then lets the backend resync.
// A backend with two devices (a dual-stack one: flannel.<VNI> and flannel-v6.<VNI>) has them kept by one keeper,
// each with its own backoff.
// Every piece of work goes through the backend's BackendWork queue, never runs on its own: the keeper only
// decides *when*; the backend says *what* (recreate, resync).
import type { Logger } from '../../log.js';
import { getLinkByName } from '../../netlink/links.js';
import { NetlinkMonitor, type MonitorEvent, type MonitorGroup } from '../../netlink/monitor.js';
import type { BackendWork } from '../backend.js';

export interface KeptDevice {
  readonly name: string;
  /** The index we last saw it with; null while it is missing. */
  index(): number | null;
  /** Makes the device again and reprograms it (address, peers). Throws to be retried later. */
  recreate(): Promise<void>;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** The one warning logged per loss (e.g. "TUN device flannel.1 was deleted; reopening it"). */
  readonly lostMessage: string;
}

export interface KeeperSpec {
  readonly work: BackendWork;
  readonly log: Logger;
  readonly device?: KeptDevice;
  /** Further devices (the IPv6 half's), kept as `device` is. */
  readonly moreDevices?: readonly KeptDevice[];
  /** The full comparison with the kernel; returns false when it could not converge (retried soon). */
  readonly resync?: (reason: string) => Promise<boolean>;
  /** Period of the full comparison (0: none). */
  readonly everyMs: number;
  /** After a pass that did not converge the next comes this soon, doubling up to everyMs. */
  readonly retryMinMs?: number;
  /** Monitor groups beyond 'link' (host-gw watches routes and addresses too). */
  readonly groups?: readonly MonitorGroup[];
  /** A kernel change that calls for a resync (besides the device's own deletion). */
  readonly concerns?: (e: MonitorEvent) => boolean;
  /** Watch the kernel at all (default true). */
  readonly watchKernel?: boolean;
}

/** One kept device's recreation: in progress since its loss, the pending attempt and the next backoff. */
interface Recreation {
  readonly device: KeptDevice;
  recreating: boolean;
  timer: NodeJS.Timeout | null;
  delay: number;
}

export class Keeper {
  private monitor: NetlinkMonitor | null = null;
  private periodic: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private readonly devices: Recreation[];
  private resyncQueued = false;
  private stopped = false;

  constructor(private readonly spec: KeeperSpec) {
    this.retryDelay = spec.retryMinMs ?? spec.everyMs;
    this.devices = [...(spec.device ? [spec.device] : []), ...(spec.moreDevices ?? [])]
      .map((device) => ({ device, recreating: false, timer: null, delay: device.backoffMinMs }));
  }

  start(): void {
    if (this.stopped) return;
    const { everyMs } = this.spec;
    if (everyMs > 0 && !this.periodic) {
      this.periodic = setInterval(() => this.requestResync('periodic check'), everyMs);
      this.periodic.unref();
    }
    if (this.monitor || this.spec.watchKernel === false) return;
    const groups: MonitorGroup[] = ['link', ...(this.spec.groups ?? []).filter((g) => g !== 'link')];
    try {
      const monitor = new NetlinkMonitor({ groups, ref: false, log: this.spec.log });
      monitor.on('event', (e: MonitorEvent) => this.onEvent(e));
      // Events may have been lost: compare everything.
      monitor.on('resync', () => this.requestResync('netlink monitor resync'));
      monitor.start();
      this.monitor = monitor;
    } catch (err) {
      this.spec.log.warn(`cannot watch the kernel; relying on the periodic check: ${(err as Error).message}`);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.periodic, this.retryTimer, ...this.devices.map((d) => d.timer)]) if (t) clearTimeout(t);
    this.periodic = this.retryTimer = null;
    for (const d of this.devices) d.timer = null;
    this.monitor?.close();
    this.monitor = null;
  }

  /** One resync queued at most: requests that arrive meanwhile are served by it. */
  requestResync(reason: string): void {
    if (this.stopped || this.resyncQueued) return;
    this.resyncQueued = true;
    this.spec.work.post('resync', async () => {
      this.resyncQueued = false;
      if (this.stopped || this.devices.some((d) => d.recreating)) return;
      let lost = false;
      for (const { device } of this.devices) {
        const link = await getLinkByName(device.name);
        if (!link || link.index !== device.index()) {
          this.deviceLost(`it is missing at a check (${reason})`, device.name);
          lost = true;
        }
      }
      if (lost) return;
      if (this.spec.resync) this.passDone(await this.spec.resync(reason));
    });
  }

  /**
   * The backend ran a pass itself (after lease events): a pass that did not converge is retried soon, backing off
   * to the periodic period, so a repair does not wait 10 s for a request that timed out under load.
   */
  passDone(converged: boolean): void {
    if (converged || this.stopped) {
      this.retryDelay = this.spec.retryMinMs ?? this.spec.everyMs;
      return;
    }
    if (this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(delay * 2, this.spec.everyMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.requestResync('retry after a failed pass');
    }, delay);
    this.retryTimer.unref();
  }

  /**
   * Logged once per loss, however many signs of it arrive (the monitor, a check, a datapath loop). `name`: which
   * device (default: the first).
   */
  deviceLost(how: string, name?: string): void {
    const d = name === undefined ? this.devices[0] : this.devices.find((x) => x.device.name === name);
    if (!d || this.stopped || d.recreating) return;
    d.recreating = true;
    this.spec.log.warn({ how }, d.device.lostMessage);
    this.scheduleRecreate(d, 0);
  }

  private onEvent(e: MonitorEvent): void {
    if (this.stopped) return;
    const gone = e.kind === 'link' && e.action === 'del' ? this.devices.find(({ device }) =>
      e.link.name === device.name || e.link.index === device.index()) : undefined;
    if (gone) {
      this.deviceLost('the netlink monitor reported its deletion', gone.device.name);
      return;
    }
    if (this.spec.concerns?.(e)) {
      // Rare (one of our routes deleted, the link back up), and the line that explains a repair or its absence.
      this.spec.log.info({ kind: e.kind, action: e.action }, 'kernel change concerns us; checking');
      this.requestResync(`kernel ${e.kind} ${e.action}`);
    }
  }

  private scheduleRecreate(d: Recreation, delay: number): void {
    const device = d.device;
    if (d.timer || this.stopped) return;
    d.timer = setTimeout(() => {
      d.timer = null;
      this.spec.work.post('recreate', async () => {
        if (this.stopped) return;
        try {
          await device.recreate();
          d.recreating = false;
          d.delay = device.backoffMinMs;
        } catch (err) {
          const wait = Math.max(d.delay, device.backoffMinMs);
          this.spec.log.error(`recreating ${device.name} failed, retrying in ${wait} ms: ${(err as Error).message}`);
          d.delay = Math.min(wait * 2, device.backoffMaxMs);
          this.scheduleRecreate(d, wait);
        }
      });
    }, delay);
    d.timer.unref();
  }
}
