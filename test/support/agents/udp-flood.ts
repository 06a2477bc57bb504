// Runs inside a namespace: fires random and malformed datagrams at a VXLAN port for a while and prints how many it
// sent. Half are pure noise of random length (0–1600 bytes); half are VXLAN-shaped with one thing wrong each: bad
// flags, another VNI, a truncated header, a wrong inner MAC, a non-IPv4 ethertype, a broken inner IPv4 header.
// With `plain`, it sends ordinary datagrams of random size instead (to addresses no peer owns, say).
// Usage: node udp-flood.js <host> <port> <seconds> [plain]
import * as dgram from 'node:dgram';
import * as crypto from 'node:crypto';

function malformed(i: number): Buffer {
  const kind = i % 7;
  if (kind === 0) return crypto.randomBytes(crypto.randomInt(0, 1600));
  if (kind === 1) return crypto.randomBytes(crypto.randomInt(0, 8)); // shorter than a VXLAN header
  const b = crypto.randomBytes(8 + 14 + 20 + crypto.randomInt(0, 64));
  b[0] = 0x08; b[1] = 0; b[2] = 0; b[3] = 0; // flags, reserved
  b.writeUIntBE(1, 4, 3); b[7] = 0; // VNI 1
  b.writeUInt16BE(0x0800, 8 + 12); // IPv4
  b[8 + 14] = 0x45;
  if (kind === 2) b[0] = 0x00; // I flag missing
  if (kind === 3) b.writeUIntBE(4242, 4, 3); // another VNI
  if (kind === 4) b.writeUInt16BE(0x86dd, 8 + 12); // IPv6 ethertype
  if (kind === 5) b[8 + 14] = 0x4f; // IHL longer than the packet
  return kind === 6 ? b.subarray(0, 8 + 10) : b; // truncated inner Ethernet
}

async function main(): Promise<void> {
  const [host, port, seconds, mode] = process.argv.slice(2);
  const make = mode === 'plain' ? (): Buffer => crypto.randomBytes(crypto.randomInt(0, 1400)) : malformed;
  const sock = dgram.createSocket('udp4');
  const until = Date.now() + Number(seconds) * 1000;
  let sent = 0;
  while (Date.now() < until) {
    await Promise.all(Array.from({ length: 64 }, (_, k) => new Promise<void>((resolve) => {
      sock.send(make(sent + k), Number(port), host, () => resolve());
    })));
    sent += 64;
  }
  sock.close();
  process.stdout.write(`${JSON.stringify({ sent })}\n`);
}

void main();
