// Pure parts of the datapath's robustness: the loop restart backoff, telling a lost TUN from a crash, the ICMP
// token bucket and its use in the encap batch, and the loop supervisor with real worker threads that die.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { COUNTER_INDEX as C, COUNTERS_PER_BLOCK } from '../../src/datapath/counters.js';
import { EncapBatch, encapSlabLayout, ICMP_UNREACHABLE_BURST, ICMP_UNREACHABLE_PER_SECOND, TUN_READ_HEADROOM } from '../../src/datapath/encap.js';
import {
  DEFAULT_LOOP_BACKOFF, isTunGoneError, LoopSupervisor, nextRestartDelay,
} from '../../src/datapath/loop-supervisor.js';
import { PeerTable } from '../../src/datapath/peer-table.js';
import { TokenBucket } from '../../src/datapath/token-bucket.js';
import { writeVnetHdr } from '../../src/datapath/virtio-hdr.js';
import { macBytes } from '../../src/datapath/wire.js';
import { parseCidr } from '../../src/net/ipv4.js';
import { randomBytes, tcpPacket } from '../support/datapath-packets.js';
import { waitFor } from '../support/proc.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

test('restart delay: min first, doubling while the loop keeps dying, capped, back to min after a healthy run', () => {
  const p = DEFAULT_LOOP_BACKOFF;
  assert.equal(nextRestartDelay(p, 0, 5), p.minMs);
  assert.equal(nextRestartDelay(p, p.minMs, 5), p.minMs * 2);
  assert.equal(nextRestartDelay(p, p.maxMs, 5), p.maxMs);
  assert.equal(nextRestartDelay(p, p.maxMs, p.healthyMs), p.minMs);
  fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), (prev, ran) => {
    const d = nextRestartDelay(p, prev, ran);
    return d >= p.minMs && d <= p.maxMs;
  }));
});

test('a loop error from a TUN fd that lost its device is told apart from a crash', () => {
  assert.ok(isTunGoneError('read: File descriptor in bad state'));
  assert.ok(!isTunGoneError('Cannot read properties of undefined'));
  assert.ok(!isTunGoneError('exited with code 1'));
});

test('token bucket: a burst, then the rate, never more than burst + rate × time', () => {
  const b = new TokenBucket(100, 50);
  let granted = 0;
  for (let i = 0; i < 1000; i++) if (b.take(0)) granted++;
  assert.equal(granted, 50);
  assert.equal(b.take(5), false, 'half a token after 5 ms');
  assert.equal(b.take(10), true, 'one token after 10 ms');
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 500 }), (steps) => {
    const bucket = new TokenBucket(100, 50);
    let now = 0;
    let n = 0;
    for (const s of steps) {
      now += s;
      if (bucket.take(now)) n++;
    }
    return n <= 50 + Math.floor((now * 100) / 1000);
  }));
});

test('a flood to an unknown subnet is answered up to the ICMP budget and the rest is counted as limited', () => {
  const slot = 65536 + 64;
  const reads = 16;
  const layout = encapSlabLayout(reads, slot, reads);
  const slab = new Uint8Array(layout.size);
  const lengths = new Int32Array(reads);
  const pkt = tcpPacket({ dst: '10.244.9.9', payload: randomBytes(20, 7) });
  for (let i = 0; i < reads; i++) {
    writeVnetHdr(slab, i * slot + TUN_READ_HEADROOM, 0, 0, 0, 0, 0, 0);
    lengths[i] = pkt.length + 10;
  }
  const peers = new PeerTable(parseCidr('10.244.0.0/16')!, 24);
  const batch = new EncapBatch(slab, slot, layout.outStart, layout.outEnd, layout.icmpStart, reads, 256);
  let clock = 0;
  batch.now = () => clock;
  const counters = new Float64Array(COUNTERS_PER_BLOCK);
  const cfg = { vni: 1, ownMac: macBytes('02:00:00:00:00:01'), sendFds: Int32Array.from([3]) };
  const batches = 20;
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < reads; i++) slab.set(pkt, i * slot + 22);
    batch.encapsulate(cfg, peers, lengths, reads, counters);
  }
  assert.equal(counters[C.drop_no_route], batches * reads);
  assert.equal(counters[C.icmp_unreachable_sent], ICMP_UNREACHABLE_BURST);
  assert.equal(counters[C.icmp_unreachable_limited], batches * reads - ICMP_UNREACHABLE_BURST);
  clock += 1000;
  for (let i = 0; i < reads; i++) slab.set(pkt, i * slot + 22);
  batch.encapsulate(cfg, peers, lengths, reads, counters);
  assert.equal(batch.tunCount, Math.min(reads, ICMP_UNREACHABLE_PER_SECOND), 'the budget refills with time');
});

test('a loop thread that throws is logged as an error and restarted; one asked to stop is not', async () => {
  const { log, lines } = recordingLogger('info');
  let spawned = 0;
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  // The first two workers throw at once; the third runs until the stop flag is set, as a real loop does.
  const spawn = (): Worker => {
    spawned++;
    const code = spawned <= 2
      ? 'throw new Error("loop bug")'
      : `const f = new Int32Array(require("node:worker_threads").workerData);
         const t = setInterval(() => { if (Atomics.load(f, 0) === 1) clearInterval(t); }, 5);`;
    return new Worker(code, { eval: true, workerData: stopFlag.buffer });
  };
  const sup = new LoopSupervisor({ role: 'tx', spawn, log, backoff: { minMs: 10, maxMs: 40, healthyMs: 60_000 } });
  sup.start();
  await waitFor(() => spawned === 3 && sup.current !== null, { what: 'third worker', intervalMs: 10 });
  assert.equal(sup.restarts, 2);
  const errors = lines.filter((l) => l.level === 50);
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]!.msg), /datapath tx loop died \(loop bug\); restarting it in 10 ms/);
  assert.equal(errors[1]!.restartInMs, 20, 'backoff grows while the loop keeps dying');
  Atomics.store(stopFlag, 0, 1);
  await sup.stop(2000);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(spawned, 3, 'no restart after an asked-for stop');
  assert.equal(sup.restarts, 2);
});

test('a terminated loop thread is restarted; a TUN-gone death is held for the owner without an error log', async () => {
  const { log, lines } = recordingLogger('info');
  let spawned = 0;
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  let mode: 'idle' | 'tun-gone' = 'idle';
  const spawn = (): Worker => {
    spawned++;
    const code = mode === 'tun-gone'
      ? 'throw new Error("read: File descriptor in bad state")'
      : `const f = new Int32Array(require("node:worker_threads").workerData);
         const t = setInterval(() => { if (Atomics.load(f, 0) === 1) clearInterval(t); }, 5);`;
    return new Worker(code, { eval: true, workerData: stopFlag.buffer });
  };
  const held: string[] = [];
  const sup = new LoopSupervisor({
    role: 'rx', spawn, log, backoff: { minMs: 10, maxMs: 40, healthyMs: 60_000 },
    onFailure: (reason) => {
      if (isTunGoneError(reason)) {
        held.push(reason);
        return 'hold';
      }
      return 'restart';
    },
  });
  sup.start();
  await waitFor(() => sup.current !== null, { what: 'first worker', intervalMs: 10 });
  mode = 'tun-gone';
  await sup.terminateForTest();
  // Restarted after the terminate, and the new worker dies on the "lost TUN": held, not restarted.
  await waitFor(() => held.length === 1, { what: 'held', intervalMs: 10 });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(spawned, 2);
  assert.equal(sup.restarts, 1, 'the terminate counted, the held death not');
  assert.equal(lines.filter((l) => l.level === 50).length, 1);
  mode = 'idle';
  sup.start();
  await waitFor(() => spawned === 3 && sup.current !== null, { what: 'restarted by its owner', intervalMs: 10 });
  Atomics.store(stopFlag, 0, 1);
  await sup.stop(2000);
});
