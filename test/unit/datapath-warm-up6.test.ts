import test from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_INDEX as C, COUNTER_NAMES } from '../../src/datapath/counters.js';
import { warmUpDatapath6, type WarmUp6Target } from '../../src/datapath/warm-up6.js';
import { parseCidr6 } from '../../src/net/ipv6.js';

function target(network: string, subnetLen: number, tunnel: boolean): WarmUp6Target {
  const ownMac = Uint8Array.of(0x02, 0, 0, 0, 0, 1);
  return {
    network: parseCidr6(network)!,
    subnetLen,
    encap: { vni: 1, ownMac, sendFds: Int32Array.of(-1), outerMtu: 1500 },
    decap: { vni: 1, ownMac, innerMtu: 1450, coalesce: true },
    ...(tunnel ? { tunnel: { tapMac: Uint8Array.of(0x02, 0, 0, 0, 0, 9), srcMac: ownMac,
      localIP6: Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)), port: 8472 } } : {}),
  };
}

// The IPv6 loops' warm-up must take every path IPv6 traffic takes, on the loop's own Network and config objects:
// lone packets with and without a partial checksum, TSO6 reads (segmented for the sockets, or whole frames for the
// tunnel-GSO TAP), GRO trains coalesced (some with a bad checksum), super-datagrams, ICMPv6 "no route" answers,
// and one iteration in 8 a drop (an IPv4 packet, no route, a wrong VNI, an unknown PublicIPv6, in turn).
for (const [network, subnetLen, tunnel] of [['fd00:48::/56', 64, false], ['fd00:48::/56', 64, true],
  ['2001:db8:ffff::/48', 60, false], ['::/0', 64, false]] as const) {
  test(`IPv6 JIT warm-up on ${network} IPv6SubnetLen ${subnetLen}${tunnel ? ', tunnel-GSO' : ''}: every path is taken`, () => {
    const counters = warmUpDatapath6(target(network, subnetLen, tunnel), 224, 2);
    for (const name of ['tx_packets', tunnel ? 'tx_tunnel_frames' : 'tx_tso_frames', 'rx_packets', 'rx_coalesced_frames',
      'rx_super_datagrams', 'rx_partial_csum', 'rx_bad_csum', 'icmp_unreachable_sent'] as const) {
      assert.ok(counters[C[name]]! > 0, `${name} is ${counters[C[name]]}`);
    }
    const drops = Object.fromEntries(COUNTER_NAMES.filter((n) => n.startsWith('drop_') && counters[C[n]] !== 0)
      .map((n) => [n, counters[C[n]]]));
    assert.deepEqual(Object.keys(drops).sort(), ['drop_bad_ip', 'drop_bad_vni', 'drop_no_route', 'drop_unknown_source'],
      JSON.stringify(drops));
  });
}
