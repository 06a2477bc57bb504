import test from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_INDEX as C, COUNTER_NAMES } from '../../src/datapath/counters.js';
import { warmUpDatapath, type WarmUpTarget } from '../../src/datapath/warm-up.js';
import { parseCidr } from '../../src/net/ipv4.js';

function target(network: string, subnetLen: number): WarmUpTarget {
  const ownMac = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
  return {
    network: parseCidr(network)!,
    subnetLen,
    encap: { vni: 1, ownMac, sendFds: Int32Array.of(-1) },
    decap: { vni: 1, ownMac, innerMtu: 1450, coalesce: true },
  };
}

// The warm-up runs on the loop's own Network: one whose address is no small integer (172.16/12, 192.168/16) must
// take the forwarding paths too, or the loop would start with unoptimised code. One iteration in 8 takes a drop path
// (IPv6, no route, wrong VNI, unknown source, in turn), so those branches are compiled as well.
for (const [network, subnetLen] of [['10.244.0.0/16', 24], ['172.16.0.0/12', 24], ['192.168.0.0/16', 30]] as const) {
  test(`JIT warm-up on ${network} SubnetLen ${subnetLen}: ping, TCP ACK with a partial checksum, TCP data and UDP are forwarded both ways; each drop path is taken`, () => {
    const iterations = 64;
    const rounds = 2;
    const counters = warmUpDatapath(target(network, subnetLen), iterations, rounds);
    const forwarded = (iterations - iterations / 8) * rounds;
    const eachOdd = iterations / 8 / 4 * rounds;
    assert.equal(counters[C.tx_packets], forwarded);
    assert.equal(counters[C.rx_packets], forwarded);
    const drops = Object.fromEntries(COUNTER_NAMES.filter((n) => n.startsWith('drop_') && counters[C[n]] !== 0)
      .map((n) => [n, counters[C[n]]]));
    assert.deepEqual(drops, {
      drop_not_ipv4: eachOdd, drop_no_route: eachOdd, drop_bad_vni: eachOdd, drop_unknown_source: eachOdd,
    });
    assert.equal(counters[C.icmp_unreachable_sent], eachOdd);
  });
}
