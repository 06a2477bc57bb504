import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOwnedHostGwRoute, natRefusal, routeForLease, routesForLeases } from '../../src/backend/hostgw/lease-routes.js';
import type { Lease } from '../../src/subnet/lease.js';
import { parseCidr, parseIPv4, type Ipv4Net } from '../../src/net/ipv4.js';
import { TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute } from '../../src/netlink/routes.js';

const net = (s: string): Ipv4Net => parseCidr(s) as Ipv4Net;

function lease(subnet: string, publicIP: string, backendType?: string): Lease {
  return {
    subnet: net(subnet), expiration: null, etcdLeaseId: '0', revision: '1',
    attrs: { publicIP, publicIPv6: null, ...(backendType !== undefined ? { backendType } : {}) },
  };
}

test('a host-gw lease gives `<subnet> via <PublicIP> dev <ext>` with our protocol in the main table', () => {
  assert.deepEqual(routeForLease(lease('10.5.2.0/24', '192.0.2.2', 'host-gw'), 7), {
    dst: net('10.5.2.0/24'), gateway: parseIPv4('192.0.2.2'), oif: 7, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL,
  });
});

test('leases of other backends, or without a usable PublicIP, give no route', () => {
  assert.equal(routeForLease(lease('10.5.2.0/24', '192.0.2.2', 'vxlan'), 7), null);
  assert.equal(routeForLease(lease('10.5.2.0/24', '192.0.2.2'), 7), null);
  assert.equal(routeForLease(lease('10.5.2.0/24', 'fe80::1', 'host-gw'), 7), null);
  assert.equal(routesForLeases([lease('10.5.2.0/24', '192.0.2.2', 'host-gw'), lease('10.5.3.0/24', '192.0.2.3', 'udp')], 7).length, 1);
});

test('owned: our protocol, main table, our device, inside the Network; anything else is left alone', () => {
  const base: KernelRoute = {
    dst: net('10.5.2.0/24'), gateway: parseIPv4('192.0.2.2'), oif: 7, table: 254, protocol: TSFLANNELD_ROUTE_PROTOCOL,
    scope: 0, type: 1, onlink: false, priority: null, prefsrc: null,
  };
  const network = net('10.5.0.0/16');
  assert.equal(isOwnedHostGwRoute(base, network, 7), true);
  assert.equal(isOwnedHostGwRoute({ ...base, protocol: 3 }, network, 7), false);
  assert.equal(isOwnedHostGwRoute({ ...base, oif: 8 }, network, 7), false);
  assert.equal(isOwnedHostGwRoute({ ...base, table: 100 }, network, 7), false);
  assert.equal(isOwnedHostGwRoute({ ...base, dst: net('10.6.2.0/24') }, network, 7), false);
  assert.equal(isOwnedHostGwRoute({ ...base, dst: net('10.0.0.0/8') }, network, 7), false);
});

test('NAT is refused with upstream\'s meaning and a way out', () => {
  const ext = { name: 'eth0', index: 2, mtu: 1500, ifaceAddr: '192.0.2.10', extAddr: '192.0.2.10' };
  assert.equal(natRefusal(ext), null);
  assert.match(natRefusal({ ...ext, extAddr: '203.0.113.5' }) ?? '', /203\.0\.113\.5 differs from the address 192\.0\.2\.10 .*NAT.*not support/);
});
