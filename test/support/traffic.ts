// Test traffic between namespaces: ping and a TCP transfer whose bytes are checked by hash on the receiving side.
// Both ends run inside their namespaces (node's own `net` module under `ip netns exec`), never in the root one.
import { spawn } from 'node:child_process';
import { execCommand, inNetns, mustExec } from './netns.js';

/** One ICMP echo from a namespace; true if answered within `waitSeconds`. */
export async function pingOnce(fromNs: string, toIP: string, waitSeconds = 2): Promise<boolean> {
  const r = await execCommand(inNetns(fromNs, ['ping', '-n', '-q', '-c', '1', '-W', String(waitSeconds), toIP]),
    { timeoutMs: (waitSeconds + 5) * 1000 });
  return r.code === 0;
}

/** One UDP datagram of `size` bytes to port 9999 of `toIP` (either family), its checksum left to the sender's veth offload. */
export async function sendUdpOnce(fromNs: string, toIP: string, size: number): Promise<void> {
  const family = toIP.includes(':') ? 'udp6' : 'udp4';
  const js = `const s=require('node:dgram').createSocket('${family}');s.send(Buffer.alloc(${size},7),9999,'${toIP}',()=>s.close())`;
  await mustExec(inNetns(fromNs, [process.execPath, '-e', js]));
}

export interface TransferResult {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly sentSha256: string;
  readonly receivedSha256: string;
}

// The receiver: listens, hashes everything until the sender closes, prints {bytes, sha256} and exits.
const RECEIVER = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port] = process.argv.slice(1);
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256'); let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex') }) + '\\n'); s.end(); srv.close(); });
});
srv.listen(Number(port), host, () => process.stdout.write('listening\\n'));
setTimeout(() => process.exit(3), 60000).unref();
`;

// The sender: a random payload of the given size, written in one go; prints its hash once the peer closed.
const SENDER = `
const net = require('node:net'), crypto = require('node:crypto');
const [host, port, size] = process.argv.slice(1);
const buf = crypto.randomBytes(Number(size));
const s = net.connect({ host, port: Number(port) }, () => s.end(buf));
s.on('close', (hadErr) => { if (!hadErr) process.stdout.write(JSON.stringify({ bytes: buf.length, sha256: crypto.createHash('sha256').update(buf).digest('hex') }) + '\\n'); });
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(2); });
setTimeout(() => process.exit(3), 60000).unref();
`;

/**
 * Sends `bytes` random bytes over TCP from `fromNs` to `toIP` (listening in `toNs`) and returns what each side
 * counted and hashed. Throws when either side fails.
 */
export async function tcpTransfer(fromNs: string, toNs: string, toIP: string, bytes: number): Promise<TransferResult> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const receiver = spawn('ip', ['netns', 'exec', toNs, process.execPath, '-e', RECEIVER, toIP, String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  receiver.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  receiver.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number>((resolve) => receiver.on('close', (code) => resolve(code ?? -1)));
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => { if (out.includes('listening\n')) resolve(); };
      receiver.stdout.on('data', check);
      void exited.then((code) => reject(new Error(`receiver in ${toNs} exited ${code} before listening: ${err.trim()}`)));
    });
    const sent = await execCommand(inNetns(fromNs, [process.execPath, '-e', SENDER, toIP, String(port), String(bytes)]),
      { timeoutMs: 65_000 });
    if (sent.code !== 0) throw new Error(`sender in ${fromNs} exited ${sent.code}: ${sent.stderr.trim()}`);
    const code = await exited;
    const receivedLine = out.split('\n').find((l) => l.startsWith('{'));
    if (code !== 0 || receivedLine === undefined) throw new Error(`receiver in ${toNs} exited ${code}: ${err.trim()}`);
    const s = JSON.parse(sent.stdout.trim()) as { bytes: number; sha256: string };
    const r = JSON.parse(receivedLine) as { bytes: number; sha256: string };
    return { bytesSent: s.bytes, bytesReceived: r.bytes, sentSha256: s.sha256, receivedSha256: r.sha256 };
  } finally {
    if (receiver.exitCode === null && receiver.pid !== undefined) {
      try { process.kill(receiver.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}
