// Captures every frame on some devices of the namespace it runs in, both directions, through AF_PACKET sockets of
// the addon (native/src/packet.cc): the frames the kernel put on the underlay and the packets it queued to a TUN.
//   node packet-capture.js '{"devices":["eth0","flannel.1"],"out":"/tmp/x.json"}'
// Prints `ready` once the sockets are bound; on stdin EOF drains them, writes {frames: [{dev, hex}]} to `out` in
// arrival order per device, and prints {"frames": N}.
import { writeFileSync } from 'node:fs';
import { loadAddon } from '../../../src/native/addon.js';
import type { TunIo } from '../../../src/datapath/native.js';

interface CaptureSpec {
  readonly devices: readonly string[];
  readonly out: string;
}

/** A frame as captured: which device, its bytes in hex. */
export interface CapturedFrame {
  readonly dev: string;
  readonly hex: string;
}

const SLOT = 65536 + 256;
const SLOTS = 16;

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as CaptureSpec;
  const addon = loadAddon() as TunIo & { packetOpen(name: string, rcvbuf?: number): number };
  const socks = spec.devices.map((dev) => ({ dev, fd: addon.packetOpen(dev) }));
  const slab = new Uint8Array(SLOT * SLOTS);
  const lengths = new Int32Array(SLOTS);
  const frames: CapturedFrame[] = [];
  const drain = (timeoutMs: number): void => {
    for (const s of socks) {
      for (;;) {
        const n = addon.readBatch(s.fd, slab, SLOT, SLOTS, lengths, timeoutMs);
        for (let i = 0; i < n; i++) {
          frames.push({ dev: s.dev, hex: Buffer.from(slab.subarray(i * SLOT, i * SLOT + lengths[i]!)).toString('hex') });
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
