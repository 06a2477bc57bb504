import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRoutes6, route6ForLease } from '../../src/backend/hostgw/ipv6-routes.js';
import { IfaceSelectionError, selectIPv6Address } from '../../src/net/iface-select.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { formatCidr6, parseCidr6, parseIPv6, type Ipv6Net } from '../../src/net/ipv6.js';
import { TSFLANNELD_ROUTE_PROTOCOL, RTN_UNICAST } from '../../src/netlink/routes.js';
import type { KernelRoute6 } from '../../src/netlink/routes6.js';
import type { Lease } from '../../src/subnet/lease.js';

const v6 = (c: string): Ipv6Net => parseCidr6(c) as Ipv6Net;
function lease(v4: string, six: string | null, publicIPv6: string | null, backendType = 'host-gw'): Lease {
  return { subnet: parseCidr(v4) as Ipv4Net, ipv6Subnet: six === null ? null : v6(six),
    attrs: { publicIP: '192.0.2.2', publicIPv6, backendType }, expiration: null, etcdLeaseId: '1', revision: '1' };
}
const kernel = (dst: string, gw: string, oif = 2): KernelRoute6 => ({ dst: v6(dst), gateway: parseIPv6(gw), oif,
  table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL, type: RTN_UNICAST, priority: 1024 });

test('a dual-stack host-gw peer gets `<v6 subnet> via <PublicIPv6>`; v4-only and other backends get none', () => {
  const r = route6ForLease(lease('10.0.2.0/24', 'fd00:0:0:2::/64', '2001:db8::2'), 3);
  assert.ok(r);
  assert.equal(formatCidr6(r.dst), 'fd00:0:0:2::/64');
  assert.equal(r.gateway, parseIPv6('2001:db8::2'));
  assert.equal(r.oif, 3);
  assert.equal(route6ForLease(lease('10.0.2.0/24', null, null), 3), null);
  assert.equal(route6ForLease(lease('10.0.2.0/24', 'fd00:0:0:2::/64', null), 3), null);
  assert.equal(route6ForLease(lease('10.0.2.0/24', 'fd00:0:0:2::/64', '2001:db8::2', 'vxlan'), 3), null);
});

test('plan: keeps a matching route, reinstalls a moved gateway, removes only our stale routes in IPv6Network', () => {
  const want = [route6ForLease(lease('10.0.2.0/24', 'fd00:0:0:2::/64', '2001:db8::2'), 2)!,
    route6ForLease(lease('10.0.3.0/24', 'fd00:0:0:3::/64', '2001:db8::3'), 2)!];
  const plan = planRoutes6(want, [kernel('fd00:0:0:2::/64', '2001:db8::2'), kernel('fd00:0:0:3::/64', '2001:db8::99'),
    kernel('fd00:0:0:9::/64', '2001:db8::9'), kernel('fd99::/64', '2001:db8::9'), kernel('fd00:0:0:8::/64', '2001:db8::8', 7)],
  v6('fd00::/56'), 2);
  assert.deepEqual(plan.install.map((r) => formatCidr6(r.dst)), ['fd00:0:0:3::/64']);
  assert.deepEqual(plan.remove.map((r) => formatCidr6(r.dst)), ['fd00:0:0:9::/64']);
});

test('the IPv6 address: first global one past DAD, --public-ipv6 overrides, a clear error without any', () => {
  const iface = { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '192.0.2.1', extAddr: '192.0.2.1' };
  const addrs = [{ ip: parseIPv6('fe80::1')!, tentative: false }, { ip: parseIPv6('2001:db8::7')!, tentative: true },
    { ip: parseIPv6('2001:db8::1')!, tentative: false }];
  assert.deepEqual(selectIPv6Address(iface, addrs), { ifaceAddr6: '2001:db8::1', extAddr6: '2001:db8::1' });
  assert.deepEqual(selectIPv6Address(iface, addrs, '2001:db8::99'), { ifaceAddr6: '2001:db8::1', extAddr6: '2001:db8::99' });
  assert.throws(() => selectIPv6Address(iface, addrs.slice(0, 2)),
    (e: unknown) => e instanceof IfaceSelectionError && /^eth0 has no global IPv6 address .*--public-ipv6$/.test(e.message));
});

test('vxlan v6 sweep: entries on flannel-v6 that no (non-direct) peer backs are stale', async () => {
  const { staleV6Entries } = await import('../../src/backend/vxlan/kernel-v6.js');
  const peer = { subnet: v6('fd00:0:0:2::/64'), publicIPv6: parseIPv6('2001:db8::2')!, vtepMac: '02:00:00:00:00:02' };
  const direct = { subnet: v6('fd00:0:0:3::/64'), publicIPv6: parseIPv6('2001:db8::3')!, vtepMac: '02:00:00:00:00:03', direct: true };
  const stale = staleV6Entries([peer, direct], {
    neigh: [peer.subnet.ip, direct.subnet.ip, parseIPv6('fd00:0:0:9::')!],
    fdb: [{ mac: peer.vtepMac, dst: peer.publicIPv6 }, { mac: peer.vtepMac, dst: parseIPv6('2001:db8::99')! }],
    routes: [peer.subnet, v6('fd00:0:0:9::/64')],
  });
  assert.deepEqual(stale.neigh.map(String), [direct.subnet.ip, parseIPv6('fd00:0:0:9::')!].map(String));
  assert.deepEqual(stale.fdb.map((f) => String(f.dst)), [String(parseIPv6('2001:db8::99'))]);
  assert.deepEqual(stale.routes.map(formatCidr6), ['fd00:0:0:9::/64']);
});

test('the IPv6 address as upstream picks it: --iface-regex must match an IPv6 address too; default routes must agree', () => {
  const iface = { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '192.0.2.1', extAddr: '192.0.2.1' };
  const addrs = [{ ip: parseIPv6('2001:db8::1')!, tentative: false }, { ip: parseIPv6('2001:db8:5::1')!, tentative: false }];
  assert.equal(selectIPv6Address(iface, addrs, undefined, { by: 'regex', patterns: ['^192\\.0\\.2\\.', '^2001:db8:5:'] }).ifaceAddr6, '2001:db8:5::1');
  assert.throws(() => selectIPv6Address(iface, addrs, undefined, { by: 'regex', patterns: ['^192\\.0\\.2\\.'] }),
    /no global IPv6 address matching --iface-regex/);
  assert.equal(selectIPv6Address(iface, addrs, undefined, { by: 'default-route', defaultRoute6: { index: 2 } }).ifaceAddr6, '2001:db8::1');
  assert.throws(() => selectIPv6Address(iface, addrs, undefined, { by: 'default-route', defaultRoute6: { index: 3 } }),
    /IPv6 default route leaves by link #3, the IPv4 one by eth0; .*give --iface$/);
  assert.throws(() => selectIPv6Address(iface, addrs, undefined, { by: 'default-route', defaultRoute6: 'there is no IPv6 default route' }),
    /there is no IPv6 default route .*give --iface$/);
});

test('--iface=<IPv6 address> makes that address the IPv6 one', () => {
  const iface = { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '192.0.2.1', extAddr: '192.0.2.1' };
  const addrs = [{ ip: parseIPv6('2001:db8::1')!, tentative: false }, { ip: parseIPv6('2001:db8:5::1')!, tentative: false }];
  assert.equal(selectIPv6Address(iface, addrs, undefined, { by: 'iface', address: parseIPv6('2001:db8:5::1')! }).ifaceAddr6, '2001:db8:5::1');
  assert.equal(selectIPv6Address(iface, addrs, undefined, { by: 'iface' }).ifaceAddr6, '2001:db8::1');
});
