// The daemon's counts (the status file's source, and /metrics' at a scrape) and the exposition built from them, which
// must read exactly as it did when the metrics lived in prom-client from the start (fixture written by that code).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { DaemonCounts, netlinkKey, splitNetlinkKey } from '../../src/ops/counts.js';
import { createMetrics } from '../../src/ops/metrics.js';
import type { Lease } from '../../src/subnet/lease.js';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures');

function lease(cidr: string): Lease {
  return { subnet: parseCidr(cidr) as Ipv4Net, ipv6Subnet: null, attrs: { publicIP: '192.0.2.1', publicIPv6: null },
    expiration: null, etcdLeaseId: '1', revision: '1' } as Lease;
}

/** The observations the fixture was made from (by the former prom-client-first metrics module). */
function observed(): DaemonCounts {
  const c = new DaemonCounts();
  c.setCounterSource(() => ({ rx_packets: 10, tx_packets: 11, rx_bytes: 1000, tx_bytes: 3000, drop_bad_vni: 2,
    drop_unknown_peer: 1, peers: 4, neg: -1 }));
  c.setRebuildSource(() => 3);
  c.etcdError('renew_lease'); c.etcdError('watch'); c.etcdError('renew_lease');
  c.peerReset([lease('10.5.0.0/24'), lease('10.5.1.0/24')]);
  c.peerEvents([{ type: 'added', lease: lease('10.5.2.0/24') }, { type: 'removed', lease: lease('10.5.0.0/24') },
    { type: 'added', lease: lease('10.5.3.0/24') }]);
  c.netlinkOperation('replace route', true); c.netlinkOperation('replace route', false);
  c.netlinkOperation('add neigh', true);
  c.ownLeaseExpiry(new Date(1767225600000));
  c.leaseReacquired(false); c.leaseReacquired(true); c.leaseReacquired(false);
  return c;
}

describe('daemon counts', () => {
  it('/metrics reads exactly as before: names, labels, types, HELP, values and order', async () => {
    const m = createMetrics(observed());
    assert.equal(await m.registry.metrics(), fs.readFileSync(path.join(FIXTURES, 'metrics-exposition.txt'), 'utf8'));
    m.startProcessMetrics();
    const heads = (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('# '));
    assert.deepEqual(heads, fs.readFileSync(path.join(FIXTURES, 'metrics-help.txt'), 'utf8').trimEnd().split('\n'));
    m.registry.clear();
  });

  it('a fresh daemon exposes zero gauges and no labelled samples', async () => {
    const text = await createMetrics(new DaemonCounts(), false).registry.metrics();
    assert.match(text, /^flannel_peers 0$/m);
    assert.match(text, /^flannel_iptables_rebuilds_total 0$/m);
    assert.doesNotMatch(text, /\{/);
  });

  it('counts peers by identity through resets and events', () => {
    const c = new DaemonCounts();
    assert.equal(c.peerReset([lease('10.5.0.0/24'), lease('10.5.0.0/24'), lease('10.5.1.0/24')]), 2);
    assert.equal(c.peerEvents([{ type: 'removed', lease: lease('10.5.9.0/24') }]), 2);
    assert.equal(c.peerEvents([{ type: 'removed', lease: lease('10.5.1.0/24') }]), 1);
    assert.equal(c.peers, 1);
    assert.deepEqual([...c.leaseEvents], [['removed', 2]]);
  });

  it('a backend that throws or a count that is not one reads as nothing', () => {
    const c = new DaemonCounts();
    assert.deepEqual(c.readCounters(), {});
    c.setCounterSource(() => { throw new Error('backend gone'); });
    assert.deepEqual(c.readCounters(), {});
    for (const n of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      c.setRebuildSource(() => n);
      assert.equal(c.readRebuilds(), 0);
    }
    c.ownLeaseExpiry(null);
    assert.equal(c.leaseExpirySeconds, 0);
  });

  it('a netlink key splits back into its operation and result', () => {
    fc.assert(fc.property(fc.string().filter((s) => !s.includes('\0')), fc.boolean(), (operation, ok) => {
      assert.deepEqual(splitNetlinkKey(netlinkKey(operation, ok)), { operation, result: ok ? 'ok' : 'error' });
    }));
  });
});
