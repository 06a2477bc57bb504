// Run inside a namespace as `node slow-clients.js <host> <port> <count>`: opens <count> connections to an HTTP server,
// each sending half a request and then nothing, holds them, then asks GET /healthz on a fresh connection and prints one
// JSON line: how many connections opened and what /healthz answered (or the error). Exits when the parent says so.
import * as net from 'node:net';

const [host = '127.0.0.1', portText = '0', countText = '0'] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const SETTLE_MS = 20_000;

async function openAll(): Promise<{ opened: number; failed: number }> {
  let opened = 0;
  let failed = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SETTLE_MS);
    const settled = (): void => {
      if (opened + failed === count) {
        clearTimeout(timer);
        resolve();
      }
    };
    for (let i = 0; i < count; i++) {
      const s = net.connect({ host, port });
      let counted = false;
      s.once('connect', () => {
        counted = true;
        opened++;
        s.write('GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Slow: ');
        settled();
      });
      s.on('error', () => {
        if (!counted) {
          counted = true;
          failed++;
          settled();
        }
      });
    }
  });
  return { opened, failed };
}

async function probe(): Promise<{ status?: number; body?: string; error?: string }> {
  try {
    const res = await fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    return { error: `${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}` };
  }
}

async function main(): Promise<void> {
  const conns = await openAll();
  const healthz = await probe();
  process.stdout.write(`${JSON.stringify({ ...conns, healthz })}\n`);
  // Held until the parent ends us, so the daemon is measured with the flood still open.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

void main();
