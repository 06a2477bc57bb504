import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { classifyCounter, createMetrics } from '../../src/ops/metrics.js';
import { Readiness } from '../../src/ops/readiness.js';
import { buildStatus, formatStatus } from '../../src/ops/status.js';
import type { Lease } from '../../src/subnet/lease.js';

test('backend counter keys map onto packets, bytes, drops by reason, or a named counter', () => {
  assert.deepEqual(classifyCounter('rx_packets'), { kind: 'packets', labels: { direction: 'rx' } });
  assert.deepEqual(classifyCounter('tx_bytes'), { kind: 'bytes', labels: { direction: 'tx' } });
  assert.deepEqual(classifyCounter('drop_unknown_peer'), { kind: 'drops', labels: { reason: 'unknown_peer' } });
  assert.deepEqual(classifyCounter('peers'), { kind: 'other', labels: { name: 'peers' } });
});

test('the registry mirrors the backend counters at every scrape', async () => {
  const m = createMetrics(false);
  let rx = 10;
  m.setCounterSource(() => ({ rx_packets: rx, tx_bytes: 3000, drop_bad_vni: 2, peers: 4 }));
  let text = await m.registry.metrics();
  assert.match(text, /^flannel_datapath_packets_total\{direction="rx"\} 10$/m);
  assert.match(text, /^flannel_datapath_bytes_total\{direction="tx"\} 3000$/m);
  assert.match(text, /^flannel_datapath_drops_total\{reason="bad_vni"\} 2$/m);
  assert.match(text, /^flannel_backend_counter\{name="peers"\} 4$/m);
  rx = 25;
  text = await m.registry.metrics();
  assert.match(text, /^flannel_datapath_packets_total\{direction="rx"\} 25$/m);
  m.setCounterSource(() => { throw new Error('backend gone'); });
  assert.doesNotMatch(await m.registry.metrics(), /direction="rx"/);
});

test('readiness needs both the rules and subnet.env', () => {
  const r = new Readiness();
  r.markSubnetFileWritten();
  assert.equal(r.ready, false);
  r.markRulesInPlace();
  assert.equal(r.ready, true);
});

function lease(subnet: string, publicIP: string, mac: string | null, expiration: Date | null): Lease {
  return { subnet: parseCidr(subnet) as Ipv4Net, attrs: { publicIP, publicIPv6: null, backendType: 'vxlan',
    ...(mac ? { backendData: { VNI: 1, VtepMAC: mac } } : {}) }, expiration, etcdLeaseId: '7', revision: '3' };
}

test('status separates the own lease (from subnet.env) from the peers, sorted by subnet', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const view = {
    configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets', configText: '{}', configError: null,
    config: { enableIPv4: true, enableIPv6: false, enableNFTables: false, network: parseCidr('10.5.0.0/16') as Ipv4Net,
      subnetLen: 24, subnetMin: 0, subnetMax: 0, backend: { type: 'vxlan', raw: {} } },
    leases: [lease('10.5.60.0/24', '192.0.2.13', null, null), lease('10.5.52.0/24', '192.0.2.11', 'aa:bb:cc:dd:ee:01', new Date(now + 7200_000)),
      lease('10.5.9.0/24', '192.0.2.12', 'aa:bb:cc:dd:ee:02', new Date(now + 60_000))],
  };
  const r = buildStatus(view, '/run/flannel/subnet.env', 'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n', null);
  assert.equal(r.own?.subnet, '10.5.52.0/24');
  assert.equal(r.own?.vtepMAC, 'aa:bb:cc:dd:ee:01');
  assert.deepEqual(r.peers.map((p) => p.subnet), ['10.5.9.0/24', '10.5.60.0/24']);
  assert.equal(r.peers[1]?.expires, null);
  assert.equal(r.daemon.running, false);
  const text = formatStatus(r, now);
  assert.match(text, /^Network: {2}10\.5\.0\.0\/16 \(backend vxlan\)/m);
  assert.match(text, /^ {2}10\.5\.9\.0\/24 +192\.0\.2\.12 +vxlan +aa:bb:cc:dd:ee:02 +2026-01-01T00:01:00\.000Z \(in 1m0s\)$/m);
  assert.match(text, /^ {2}10\.5\.60\.0\/24 +192\.0\.2\.13 +vxlan +- +never \(reservation\)$/m);
  assert.match(text, /^Daemon: {3}not running/m);
});
