// The kernel and userspace IPv6 halves read leases through v6PeerDiff: only other nodes' IPv6 halves become peers,
// a peer publishing our VtepMAC is reported (and kept), and a changed peer's old entries are cleared when moved.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { v6PeerDiff, v6PeerMoved, type V6Peer } from '../../src/backend/vxlan/kernel-v6.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { parseCidr6, requireIPv6, type Ipv6Net } from '../../src/net/ipv6.js';
import type { Lease } from '../../src/subnet/lease.js';
import { recordingLogger } from '../support/subnet-fixtures.js';

const OWN_MAC = '02:c1:0e:00:06:01';
const own6 = parseCidr6('fd00:38:0:1::/64') as Ipv6Net;

function lease(i: number, v6: { mac?: string; publicIPv6?: string | null } = {}): Lease {
  const publicIPv6 = v6.publicIPv6 === undefined ? `2001:db8::${i + 16}` : v6.publicIPv6;
  return {
    subnet: parseCidr(`10.5.${i}.0/24`) as Ipv4Net, ipv6Subnet: parseCidr6(`fd00:38:0:${i}::/64`) as Ipv6Net,
    attrs: { publicIP: `192.0.2.${i + 16}`, publicIPv6, backendType: 'vxlan',
      backendV6Data: { VNI: 1, VtepMAC: v6.mac ?? `02:c1:0e:00:07:${(i + 16).toString(16)}` } },
    expiration: null, etcdLeaseId: '0', revision: '1',
  };
}

function diff(clashes: string[] = []): ReturnType<typeof v6PeerDiff> {
  const { log } = recordingLogger('info');
  return v6PeerDiff({ own: () => own6, local: () => ({ publicIPv6: requireIPv6('2001:db8::11'), vtepMac: OWN_MAC }),
    onClash: (_peer, key) => clashes.push(key) }, log);
}

test('v6 peer diff: IPv4-only peers and our own lease are nothing to an IPv6 half, and no warning', () => {
  const d = diff();
  const steps = d.reset([lease(1), lease(2, { publicIPv6: null }), lease(3)], ['10.5.2.0/24', '10.5.9.0/24']);
  assert.deepEqual(steps.map((s) => `${s.op} ${s.key}`), ['remove 10.5.2.0/24', 'remove 10.5.9.0/24', 'set 10.5.3.0/24']);
  assert.equal(d.ignoredLeases, 0);
  assert.deepEqual(d.events([{ type: 'added', lease: lease(1) }]).map((s) => s.op), ['remove'], 'our own lease again');
});

test('v6 peer diff: a peer with our VtepMAC from another PublicIPv6 is reported and still programmed', () => {
  const clashes: string[] = [];
  const steps = diff(clashes).events([{ type: 'added', lease: lease(4, { mac: OWN_MAC }) },
    { type: 'added', lease: lease(5, { mac: OWN_MAC, publicIPv6: '2001:db8::11' }) }]);
  assert.deepEqual(steps.map((s) => s.op), ['set', 'set']);
  assert.deepEqual(clashes, ['10.5.4.0/24'], 'the same host (our PublicIPv6) is no clash');
});

test('v6 peer moved: entries are reused only when subnet, VtepMAC and PublicIPv6 are all the same', () => {
  const peer = (i: number, mac: number, ip: number): V6Peer => ({ subnet: parseCidr6(`fd00:38:0:${i}::/64`) as Ipv6Net,
    publicIPv6: requireIPv6(`2001:db8::${ip}`), vtepMac: `02:00:00:00:00:0${mac}` });
  fc.assert(fc.property(fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)), fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)),
    ([i, m, p], [j, n, q]) => v6PeerMoved(peer(i, m, p), { ...peer(j, n, q), direct: true }) === (i !== j || m !== n || p !== q)));
});
