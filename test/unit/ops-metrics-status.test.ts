import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { classifyCounter, DaemonCounts } from '../../src/ops/counts.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { Readiness } from '../../src/ops/readiness.js';
import { buildStatus, chooseEtcd, formatStatus } from '../../src/ops/status.js';
import { withoutUserinfo, type DaemonState } from '../../src/ops/state-file.js';
import type { Lease } from '../../src/subnet/lease.js';

test('backend counter keys map onto packets, bytes, drops by reason, or a named counter', () => {
  assert.deepEqual(classifyCounter('rx_packets'), { kind: 'packets', labels: { direction: 'rx' } });
  assert.deepEqual(classifyCounter('tx_bytes'), { kind: 'bytes', labels: { direction: 'tx' } });
  assert.deepEqual(classifyCounter('drop_unknown_peer'), { kind: 'drops', labels: { reason: 'unknown_peer' } });
  assert.deepEqual(classifyCounter('peers'), { kind: 'other', labels: { name: 'peers' } });
});

test('the registry mirrors the backend counters at every scrape', async () => {
  const counts = new DaemonCounts();
  const m = createMetrics(counts, false);
  let rx = 10;
  counts.setCounterSource(() => ({ rx_packets: rx, tx_bytes: 3000, drop_bad_vni: 2, peers: 4 }));
  let text = await m.registry.metrics();
  assert.match(text, /^flannel_datapath_packets_total\{direction="rx"\} 10$/m);
  assert.match(text, /^flannel_datapath_bytes_total\{direction="tx"\} 3000$/m);
  assert.match(text, /^flannel_datapath_drops_total\{reason="bad_vni"\} 2$/m);
  assert.match(text, /^flannel_backend_counter\{name="peers"\} 4$/m);
  rx = 25;
  text = await m.registry.metrics();
  assert.match(text, /^flannel_datapath_packets_total\{direction="rx"\} 25$/m);
  counts.setCounterSource(() => { throw new Error('backend gone'); });
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

describe('status: which etcd it reads', () => {
  const defaults = { etcdEndpoints: ['http://127.0.0.1:4001', 'http://127.0.0.1:2379'], etcdPrefix: '/coreos.com/network' };
  const state: DaemonState = { pid: 42, updated: '2026-01-01T00:00:00Z', subnet: '10.5.52.0/24', publicIP: '192.0.2.1',
    backendType: 'vxlan', mtu: 1450, healthz: null, counters: {}, etcdEndpoints: ['https://192.0.2.9:2379'],
    etcdPrefix: '/usr/local/bin/network', peers: 3 };

  it('takes the daemon\'s prefix and endpoints when none were given', () => {
    const c = chooseEtcd(defaults, defaults, state);
    assert.deepEqual([c.etcdEndpoints, c.etcdPrefix], [['https://192.0.2.9:2379'], '/usr/local/bin/network']);
    assert.match(c.note ?? '', /running daemon's prefix \/usr\/local\/bin\/network and endpoints https:\/\/192\.0\.2\.9:2379/);
  });

  it('keeps a prefix given on purpose and warns that the daemon uses another', () => {
    const c = chooseEtcd({ ...defaults, etcdPrefix: '/other' }, defaults, state);
    assert.equal(c.etcdPrefix, '/other');
    assert.deepEqual(c.etcdEndpoints, ['https://192.0.2.9:2379']);
    assert.match(c.note ?? '', /^WARNING: the running daemon \(pid 42\) uses prefix \/usr\/local\/bin\/network/);
  });

  it('says nothing without a daemon, or when the flags match it', () => {
    assert.equal(chooseEtcd(defaults, defaults, null).note, null);
    const same = { etcdEndpoints: ['https://192.0.2.9:2379'], etcdPrefix: '/usr/local/bin/network' };
    assert.equal(chooseEtcd(same, defaults, state).note, null);
  });

  it('status file endpoints carry no credentials', () => {
    assert.equal(withoutUserinfo('https://user:secret@192.0.2.9:2379'), 'https://192.0.2.9:2379');
    assert.equal(withoutUserinfo('http://192.0.2.9:2379'), 'http://192.0.2.9:2379');
  });

  it('shows the daemon\'s peer count', () => {
    const r = buildStatus({ config: null, configKey: '/k', configError: 'none', leases: [] } as unknown as Parameters<typeof buildStatus>[0],
      '/run/flannel/subnet.env', null, state, 'note');
    assert.match(formatStatus(r), /Daemon: {3}running \(pid 42\), 3 peers programmed/);
    assert.match(formatStatus(r), /^etcd: {5}note$/m);
  });
});
