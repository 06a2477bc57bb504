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
