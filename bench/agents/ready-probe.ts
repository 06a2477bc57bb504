// Runs inside a testbed host namespace: polls a daemon's /readyz until it answers 200 and prints the epoch ms of
// that first 200 (or exits 1 after the timeout). Started before the daemon, so the moment is precise to a few ms.
// Usage: node ready-probe.js <url> <timeout-ms>
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';

const now = (): number => performance.timeOrigin + performance.now();

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => { req.destroy(); resolve(0); });
  });
}

async function main(): Promise<void> {
  const [url, timeoutArg] = process.argv.slice(2);
  if (url === undefined) throw new Error('usage: ready-probe <url> <timeout-ms>');
  const deadline = Date.now() + Number(timeoutArg ?? '30000');
  while (Date.now() < deadline) {
    if (await status(url) === 200) {
      process.stdout.write(`${now()}\n`);
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  process.stderr.write(`ready-probe: ${url} never answered 200\n`);
  process.exit(1);
}

void main();
