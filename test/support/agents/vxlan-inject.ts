// Runs inside a namespace: sends hand-made VXLAN frames (flannel's wire format) to a VXLAN port from one UDP socket,
// as a peer host, or anyone who can put that peer's address on the wire, could. Each frame carries an inner IPv4/UDP
// packet with the given addresses whose payload is its tag, so a sink can tell which frames got through.
//   node vxlan-inject.js '<json InjectSpec>'      prints {"sent": N} when done
import * as dgram from 'node:dgram';

export interface InjectFrame {
  readonly src: string;
  readonly dst: string;
  readonly dport: number;
  readonly tag: string;
}

export interface InjectSpec {
  readonly to: string;
  /** Source address to send from (one this namespace holds, e.g. a peer's address put there to spoof it). */
  readonly bind?: string;
  readonly port: number;
  readonly vni: number;
  /** The receiver's VtepMAC (inner Ethernet destination). */
  readonly dstMac: string;
  /** Copies of each frame, sent in the order given (frame 1 × count, then frame 2 × count, ...). */
  readonly count: number;
  readonly frames: readonly InjectFrame[];
}

function ipBytes(text: string): number[] {
  return text.split('.').map(Number);
}

function headerChecksum(b: Buffer, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += b.readUInt16BE(off + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** VXLAN header + inner Ethernet + IPv4 (TTL 64) + UDP (checksum 0: none, valid for IPv4) + tag. */
export function vxlanFrame(spec: InjectSpec, f: InjectFrame): Buffer {
  const payload = Buffer.from(f.tag);
  const b = Buffer.alloc(8 + 14 + 20 + 8 + payload.length);
  b[0] = 0x08;
  b.writeUIntBE(spec.vni, 4, 3);
  Buffer.from(spec.dstMac.split(':').map((h) => parseInt(h, 16))).copy(b, 8);
  Buffer.from([0x02, 0x66, 0, 0, 0, 1]).copy(b, 14);
  b.writeUInt16BE(0x0800, 20);
  const ip = 22;
  b[ip] = 0x45;
  b.writeUInt16BE(20 + 8 + payload.length, ip + 2);
  b[ip + 8] = 64;
  b[ip + 9] = 17;
  Buffer.from(ipBytes(f.src)).copy(b, ip + 12);
  Buffer.from(ipBytes(f.dst)).copy(b, ip + 16);
  b.writeUInt16BE(headerChecksum(b, ip, 20), ip + 10);
  b.writeUInt16BE(40000, ip + 20);
  b.writeUInt16BE(f.dport, ip + 22);
  b.writeUInt16BE(8 + payload.length, ip + 24);
  payload.copy(b, ip + 28);
  return b;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as InjectSpec;
  const sock = dgram.createSocket('udp4');
  if (spec.bind !== undefined) {
    await new Promise<void>((resolve) => sock.bind({ address: spec.bind, port: 0 }, resolve));
  }
  let sent = 0;
  for (const f of spec.frames) {
    const frame = vxlanFrame(spec, f);
    for (let i = 0; i < spec.count; i++) {
      await new Promise<void>((resolve, reject) => sock.send(frame, spec.port, spec.to, (err) => (err ? reject(err) : resolve())));
      sent++;
    }
  }
  sock.close();
  process.stdout.write(`${JSON.stringify({ sent })}\n`);
}

if (require.main === module) void main();
