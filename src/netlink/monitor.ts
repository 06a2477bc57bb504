// Kernel change notifications (links, IPv4 and IPv6 routes, IPv4 addresses, neighbours) with NEW and DEL told apart.
// The package's RtNetlinkSocket 'message' event drops nlmsg_type, so we read the inner socket and parse ourselves.
// A notification socket that overflows loses events for good: on any socket failure the monitor builds a new
// socket and emits 'resync', and users then compare the whole kernel state with what they want.
import { EventEmitter } from 'node:events';
import { createRtNetlink, rt, type NetlinkMessage, type RtNetlinkSocket } from 'netlink';
import { log as rootLog, type Logger } from '../log.js';
import { linkInfoFromMessage, type LinkInfo } from './links.js';
import { kernelRouteFromMessage, type KernelRoute } from './routes.js';
import { kernelRoute6FromMessage, type KernelRoute6 } from './routes6.js';

export type MonitorGroup = 'link' | 'route' | 'route6' | 'addr' | 'neigh';
export type MonitorAction = 'new' | 'del';

export type MonitorEvent =
  | { readonly kind: 'link'; readonly action: MonitorAction; readonly link: LinkInfo }
  | { readonly kind: 'route'; readonly action: MonitorAction; readonly route: KernelRoute; readonly message: rt.RouteMessage }
  | { readonly kind: 'route6'; readonly action: MonitorAction; readonly route: KernelRoute6 }
  | { readonly kind: 'addr'; readonly action: MonitorAction; readonly message: rt.AddressMessage }
  | { readonly kind: 'neigh'; readonly action: MonitorAction; readonly message: rt.NeighborMessage };

export interface MonitorOptions {
  readonly groups: readonly MonitorGroup[];
  /** SO_RCVBUF (default 8 MiB; capped by net.core.rmem_max). */
  readonly recvBufferSize?: number;
  /** Keep the event loop alive while open (default true). */
  readonly ref?: boolean;
  readonly log?: Logger;
}

const MEMBERSHIPS: Record<MonitorGroup, Array<keyof typeof rt.MulticastGroups>> = {
  link: ['LINK'],
  route: ['IPV4_ROUTE'],
  route6: ['IPV6_ROUTE'],
  addr: ['IPV4_IFADDR'],
  neigh: ['NEIGH'],
};

const ACTIONS = new Map<number, MonitorAction>([
  [rt.MessageType.NEWLINK, 'new'], [rt.MessageType.DELLINK, 'del'],
  [rt.MessageType.NEWADDR, 'new'], [rt.MessageType.DELADDR, 'del'],
  [rt.MessageType.NEWROUTE, 'new'], [rt.MessageType.DELROUTE, 'del'],
  [rt.MessageType.NEWNEIGH, 'new'], [rt.MessageType.DELNEIGH, 'del'],
]);

const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;

/** Decodes one notification; null for message types we do not report. Pure, exported for tests. */
export function decodeNotification(type: number, data: Buffer): MonitorEvent | null {
  const action = ACTIONS.get(type);
  if (!action) return null;
  const message = rt.parseMessage(type, data);
  switch (message.kind) {
    case 'link':
      return { kind: 'link', action, link: linkInfoFromMessage(message) };
    case 'route': {
      const route = kernelRouteFromMessage(message);
      if (route) return { kind: 'route', action, route, message };
      const route6 = kernelRoute6FromMessage(message);
      return route6 ? { kind: 'route6', action, route: route6 } : null;
    }
    case 'address':
      return { kind: 'addr', action, message };
    case 'neighbor':
      return { kind: 'neigh', action, message };
    default:
      return null;
  }
}

export interface NetlinkMonitor {
  on(event: 'event', listener: (e: MonitorEvent) => void): this;
  /** The socket was rebuilt after a failure: events may have been lost, reconcile everything. */
  on(event: 'resync', listener: () => void): this;
}

export class NetlinkMonitor extends EventEmitter {
  private sock: RtNetlinkSocket | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelay = RESTART_MIN_MS;
  private failureCount = 0;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly opts: MonitorOptions) {
    super();
    this.log = opts.log ?? rootLog.child({ component: 'netlink-monitor' });
  }

  /** How many times the socket failed and was rebuilt. */
  get failures(): number {
    return this.failureCount;
  }

  /** Opens the socket and joins the groups. Throws if the first socket cannot be made (e.g. no permission). */
  start(): void {
    if (this.sock || this.closed) return;
    this.sock = this.open();
  }

  close(): void {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.dropSocket();
  }

  private open(): RtNetlinkSocket {
    const sock = createRtNetlink({
      ref: this.opts.ref ?? true,
      recvBufferSize: this.opts.recvBufferSize ?? 8 << 20,
      sendBufferSize: 64 << 10,
    });
    try {
      for (const group of this.opts.groups) for (const m of MEMBERSHIPS[group]) sock.addMembership(m);
    } catch (err) {
      sock.socket.close();
      throw err;
    }
    sock.socket.on('message', (msgs: NetlinkMessage[]) => this.deliver(msgs));
    sock.socket.on('error', (err) => this.fail(sock, `${err.code ?? ''} ${err.message}`.trim()));
    sock.socket.on('close', () => this.fail(sock, 'socket closed'));
    return sock;
  }

  private deliver(msgs: NetlinkMessage[]): void {
    for (const m of msgs) {
      let event: MonitorEvent | null;
      try {
        event = decodeNotification(m.type, m.data);
      } catch (err) {
        this.log.debug({ err, type: m.type }, 'undecodable netlink notification skipped');
        continue;
      }
      if (!event) continue;
      try {
        this.emit('event', event);
      } catch (err) {
        // A listener's bug must not unwind into the native callback, which would end the process.
        this.log.error({ err, kind: event.kind }, 'netlink monitor listener failed');
      }
    }
  }

  private fail(sock: RtNetlinkSocket, reason: string): void {
    if (this.sock !== sock || this.closed) return;
    this.failureCount++;
    this.log.warn({ reason }, 'netlink monitor socket failed; rebuilding it and resyncing');
    this.dropSocket();
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed) return;
      try {
        this.sock = this.open();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'netlink monitor socket could not be rebuilt; retrying');
        this.scheduleRestart();
        return;
      }
      this.restartDelay = RESTART_MIN_MS;
      try {
        this.emit('resync');
      } catch (err) {
        this.log.error({ err }, 'netlink monitor resync listener failed');
      }
    }, delay);
  }

  private dropSocket(): void {
    const sock = this.sock;
    this.sock = null;
    if (!sock) return;
    try {
      sock.socket.close();
    } catch {
      // Already closed by the native side.
    }
  }
}
