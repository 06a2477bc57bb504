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
// take the forwarding paths too, or the loop would start with unoptimised code. Every path real traffic takes must
// be taken: lone packets with and without a partial checksum, TSO reads, GRO trains coalesced (some with a segment
// whose checksum is bad), super-datagrams, and one iteration in 8 a drop (IPv6, no route, wrong VNI, unknown
// source, in turn).
for (const [network, subnetLen] of [['10.244.0.0/16', 24], ['172.16.0.0/12', 24], ['192.168.0.0/16', 30]] as const) {
  test(`JIT warm-up on ${network} SubnetLen ${subnetLen}: every forwarding path and each drop path is taken`, () => {
    const counters = warmUpDatapath(target(network, subnetLen), 224, 2);
    for (const name of ['tx_packets', 'tx_tso_frames', 'rx_packets', 'rx_coalesced_frames', 'rx_super_datagrams',
      'rx_partial_csum', 'rx_bad_csum', 'icmp_unreachable_sent'] as const) {
      assert.ok(counters[C[name]]! > 0, `${name} is ${counters[C[name]]}`);
    }
    const drops = Object.fromEntries(COUNTER_NAMES.filter((n) => n.startsWith('drop_') && counters[C[n]] !== 0)
      .map((n) => [n, counters[C[n]]]));
    // Counted per frame: a wrong-VNI GRO train is several drops.
    assert.deepEqual(Object.keys(drops).sort(), ['drop_bad_vni', 'drop_no_route', 'drop_not_ipv4', 'drop_unknown_source']);
  });
}
