// A loopback TCP proxy in front of a real etcd, so a test can cut one client's connection (and refuse new ones)
// while etcd itself keeps running and other clients can still change and compact it.
import * as net from 'node:net';

export interface TcpProxy {
  readonly url: string;
  /** Drops every open connection and resets new ones until resume(). */
  cut(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let cutOff = false;
  const server = net.createServer((down) => {
    if (cutOff) {
      down.resetAndDestroy();
      return;
    }
    const up = net.connect(targetPort, targetHost);
    sockets.add(down);
    sockets.add(up);
    down.pipe(up).pipe(down);
    const drop = (): void => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    down.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      cutOff = true;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    resume: () => {
      cutOff = false;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Runs `fn` with a proxy in front of the etcd at `etcdUrl` and a client connected through it; afterwards, pass or
 * fail, resumes the proxy (so the client can close cleanly), closes the client, then the proxy.
 */
export async function withProxiedClient<C extends { close(): unknown }>(etcdUrl: string,
  connect: (proxyUrl: string) => C, fn: (proxy: TcpProxy, client: C) => Promise<void>): Promise<void> {
  const url = new URL(etcdUrl);
  const proxy = await startTcpProxy(url.hostname, Number(url.port));
  let client: C | null = null;
  try {
    client = connect(proxy.url);
    await fn(proxy, client);
  } finally {
    proxy.resume();
    client?.close();
    await proxy.close();
  }
}
