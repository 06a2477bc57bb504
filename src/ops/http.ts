// --healthz-ip/--healthz-port: /healthz (alive), /readyz (rules in place and subnet.env written) and /metrics
// (Prometheus text format). Texts and status codes as upstream's health server (flannel-compat §10).
// The port faces whoever can reach it, so it is bounded: a cap on open connections (the oldest is dropped for a new
// one, so a flood of idle or half-sent requests cannot lock a health probe out), and seconds-long header, request and
// idle timeouts.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connectionCap, readOpenFilesLimit } from './fd-budget.js';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.js';

export interface HealthServerOptions {
  readonly ip: string;
  readonly port: number;
  readonly readiness: Readiness;
  /** The metrics, or how to get them: the daemon loads prom-client at the first scrape (./extension.ts). */
  readonly registry: Registry | (() => Promise<Registry>);
  /** Defaults to a share of RLIMIT_NOFILE (./fd-budget.ts). */
  readonly maxConnections?: number;
  /** How long a client may take to send a whole request (from connecting, or from the previous answer); 5 s. */
  readonly requestTimeoutMs?: number;
}

export interface HealthServer {
  /** The bound address (the port is the real one when 0 was asked for, e.g. in tests). */
  readonly address: AddressInfo;
  /** Stops accepting; open connections get up to 3 s, as upstream's graceful shutdown. */
  close(): Promise<void>;
}

const GRACE_MS = 3000;
/** A probe or a scrape sends its request in milliseconds; seconds are generous and free a slot soon. */
const REQUEST_TIMEOUT_MS = 5000;
/** The longest delay setInterval takes: Node's own connection check then never runs. */
const NEVER_MS = 2 ** 31 - 1;
const IDLE_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5000;

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const cap = opts.maxConnections ?? connectionCap(readOpenFilesLimit());
  // Node checks its header and request timeouts from one timer that runs from listen() on, whether a connection is
  // open or not: it would wake an idle daemon every period. Each connection carries its own deadline instead.
  const server = http.createServer({ headersTimeout: 0, requestTimeout: 0, connectionsCheckingInterval: NEVER_MS },
    (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      text(res, 200, 'flanneld is running');
    } else if (path === '/readyz') {
      if (opts.readiness.ready) text(res, 200, 'flanneld is ready');
      else text(res, 503, 'flanneld is not ready yet');
    } else if (path === '/metrics') {
      const registry = typeof opts.registry === 'function' ? opts.registry() : Promise.resolve(opts.registry);
      registry.then(async (r) => [await r.metrics(), r.contentType] as const).then(
        ([body, contentType]) => res.writeHead(200, { 'Content-Type': contentType }).end(body),
        (err: Error) => text(res, 500, `metrics collection failed: ${err.message}\n`));
    } else {
      text(res, 404, '404 page not found\n');
    }
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.setTimeout(IDLE_TIMEOUT_MS); // without a 'timeout' listener, Node destroys the idle socket
  dropOldestBeyond(server, cap);
  requestDeadlines(server, opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot start the health server on ${opts.ip}:${opts.port} (--healthz-ip/--healthz-port): ${err.code ?? err.message}`));
    });
    server.listen(opts.port, opts.ip, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), GRACE_MS);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}

function text(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}

/**
 * Keeps at most `cap` connections open: a new one beyond the cap closes the oldest. Refusing the newest instead
 * (net.Server.maxConnections) would let anyone who holds `cap` idle connections keep every health probe out.
 */
function dropOldestBeyond(server: http.Server, cap: number): void {
  const open = new Set<Socket>(); // insertion order = age
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    while (open.size > cap) {
      const oldest = open.values().next().value as Socket;
      open.delete(oldest);
      oldest.destroy();
    }
  });
}

/**
 * A request must arrive whole within `ms` of the connection, or of the answer before it on a kept-alive connection;
 * a client that sends a few bytes now and then (a half-sent request) is disconnected then. The timer exists only
 * while a request is due, so an idle server has none. (The health server answers GETs, which have no body: the
 * 'request' event means the whole request is in.)
 */
function requestDeadlines(server: http.Server, ms: number): void {
  const due = new WeakMap<Socket, NodeJS.Timeout>();
  const clear = (socket: Socket): void => {
    const t = due.get(socket);
    if (t !== undefined) clearTimeout(t);
    due.delete(socket);
  };
  const arm = (socket: Socket): void => {
    clear(socket);
    if (socket.destroyed) return;
    const t = setTimeout(() => socket.destroy(), ms);
    t.unref();
    due.set(socket, t);
  };
  server.on('connection', (socket: Socket) => {
    arm(socket);
    socket.once('close', () => clear(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    clear(req.socket);
    res.once('finish', () => arm(req.socket));
  });
}
