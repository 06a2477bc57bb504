import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isV6Clash, type V6Peer } from '../../src/backend/vxlan/kernel-v6.js';
import { parseCidr6, requireIPv6 } from '../../src/net/ipv6.js';

test('flannel-v6 clash: our VtepMAC from another PublicIPv6 only', () => {
  const peer: V6Peer = { subnet: parseCidr6('fd00:38:0:1::/64')!, publicIPv6: requireIPv6('2001:db8::12'), vtepMac: '02:c1:0e:00:06:01' };
  assert.equal(isV6Clash(peer, { publicIPv6: requireIPv6('2001:db8::11'), vtepMac: '02:c1:0e:00:06:01' }), true);
  assert.equal(isV6Clash(peer, { publicIPv6: requireIPv6('2001:db8::11'), vtepMac: '02:c1:0e:00:06:02' }), false, 'another MAC');
  assert.equal(isV6Clash(peer, { publicIPv6: requireIPv6('2001:db8::12'), vtepMac: '02:c1:0e:00:06:01' }), false, 'our own lease');
});
