// --healthz-ip/--healthz-port: /healthz (alive), /readyz (rules in place and subnet.env written) and /metrics
// (Prometheus text format). Texts and status codes as upstream's health server (flannel-compat §10).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.js';

export interface HealthServerOptions {
  readonly ip: string;
  readonly port: number;
  readonly readiness: Readiness;
  readonly registry: Registry;
}

export interface HealthServer {
  /** The bound address (the port is the real one when 0 was asked for, e.g. in tests). */
  readonly address: AddressInfo;
  /** Stops accepting; open connections get up to 3 s, as upstream's graceful shutdown. */
  close(): Promise<void>;
}

const GRACE_MS = 3000;

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
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
      opts.registry.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(body),
        (err: Error) => text(res, 500, `metrics collection failed: ${err.message}\n`));
    } else {
      text(res, 404, '404 page not found\n');
    }
  });
  server.keepAliveTimeout = 5000;
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
