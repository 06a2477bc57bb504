// Captures every frame on some devices of the namespace it runs in, both directions, through AF_PACKET sockets of
// the addon (native/src/packet.cc): the frames the kernel put on the underlay and the packets it queued to a TUN.
//   node packet-capture.js '{"devices":["eth0","flannel.1"],"out":"/tmp/x.json","vnetDevices":["flannel.1"]}'
// On the `vnetDevices` each frame also gets the virtio_net_hdr the kernel derives from its skb (PACKET_VNET_HDR):
// for a TUN, the header its reader got, GSO size included.
// Prints `ready` once the sockets are bound; on stdin EOF drains them, writes {frames: [{dev, hex}]} to `out` in
// arrival order per device, and prints {"frames": N}.
import { writeFileSync } from 'node:fs';
import { loadAddon } from '../../../src/native/addon.js';
import type { TunIo } from '../../../src/datapath/native.js';

interface CaptureSpec {
  readonly devices: readonly string[];
  readonly out: string;
  readonly vnetDevices?: readonly string[];
}

/** A frame as captured: which device, its bytes in hex. */
export interface CapturedFrame {
  readonly dev: string;
  readonly hex: string;
  /** [flags, gso_type, hdr_len, gso_size, csum_start, csum_offset], on the vnetDevices only. */
  readonly vnet?: [number, number, number, number, number, number];
}

const VNET_HDR_LEN = 10;

const SLOT = 65536 + 256;
const SLOTS = 16;

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as CaptureSpec;
  const addon = loadAddon() as TunIo & { packetOpen(name: string, rcvbuf?: number, vnetHdr?: boolean): number };
  const socks = spec.devices.map((dev) => {
    const vnet = spec.vnetDevices?.includes(dev) ?? false;
    return { dev, vnet, fd: addon.packetOpen(dev, 8 << 20, vnet) };
  });
  const slab = new Uint8Array(SLOT * SLOTS);
  const lengths = new Int32Array(SLOTS);
  const frames: CapturedFrame[] = [];
  const drain = (timeoutMs: number): void => {
    for (const s of socks) {
      for (;;) {
        const n = addon.readBatch(s.fd, slab, SLOT, SLOTS, lengths, timeoutMs);
        for (let i = 0; i < n; i++) {
          const b = Buffer.from(slab.subarray(i * SLOT, i * SLOT + lengths[i]!));
          if (!s.vnet) {
            frames.push({ dev: s.dev, hex: b.toString('hex') });
            continue;
          }
          const vnet: CapturedFrame['vnet'] = [b[0]!, b[1]!, b.readUInt16LE(2), b.readUInt16LE(4), b.readUInt16LE(6),
            b.readUInt16LE(8)];
          frames.push({ dev: s.dev, hex: b.subarray(VNET_HDR_LEN).toString('hex'), vnet });
        }
        if (n < SLOTS) break;
      }
    }
  };
  let done = false;
  const tick = (): void => {
    if (done) return;
    drain(5);
    setImmediate(tick);
  };
  process.stdin.on('end', () => {
    done = true;
    drain(0);
    writeFileSync(spec.out, JSON.stringify({ frames }));
    for (const s of socks) addon.closeFd(s.fd);
    process.stdout.write(`${JSON.stringify({ frames: frames.length })}\n`);
    process.exit(0);
  });
  process.stdin.resume();
  process.stdout.write('ready\n');
  tick();
}

main();
