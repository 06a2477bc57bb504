import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { parseCidr6 } from '../../src/net/ipv6.js';
import { checkIpv6Forward, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { buildStatus, formatStatus } from '../../src/ops/status.js';
import type { Lease } from '../../src/subnet/lease.js';

const DUAL = parseNetworkConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:5::/56","Backend":{"Type":"host-gw"}}');

test('doctor: IPv6 forwarding is checked only for a dual-stack network, with the sysctl fix', () => {
  const facts = (ipv6Forward: string | null, config = DUAL): DoctorFacts => ({ ipv6Forward, etcd: { config } } as unknown as DoctorFacts);
  assert.equal(checkIpv6Forward(facts('1\n')).status, 'ok');
  const off = checkIpv6Forward(facts('0\n'));
  assert.equal(off.status, 'fail');
  assert.match(off.fix ?? '', /^sysctl -w net\.ipv6\.conf\.all\.forwarding=1/);
  assert.equal(checkIpv6Forward(facts('0\n', parseNetworkConfig('{"Network":"10.5.0.0/16"}'))).status, 'skip');
});

test('status: the IPv6 network, each lease\'s IPv6 subnet and PublicIPv6, and FLANNEL_IPV6_SUBNET', () => {
  const lease = (v4: string, v6: string, ip: string, ip6: string): Lease => ({ subnet: parseCidr(v4) as Ipv4Net,
    ipv6Subnet: parseCidr6(v6), attrs: { publicIP: ip, publicIPv6: ip6, backendType: 'host-gw' }, expiration: null,
    etcdLeaseId: '0', revision: '1' });
  const view = { configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets', configText: '',
    configError: null, config: DUAL,
    leases: [lease('10.5.52.0/24', 'fd00:5:0:34::/64', '192.0.2.1', '2001:db8::1'), lease('10.5.53.0/24', 'fd00:5:0:35::/64', '192.0.2.2', '2001:db8::2')] };
  const r = buildStatus(view, '/run/flannel/subnet.env', 'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\n'
    + 'FLANNEL_IPV6_NETWORK=fd00:5::/56\nFLANNEL_IPV6_SUBNET=fd00:5:0:34::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n', null);
  assert.equal(r.ipv6Network, 'fd00:5::/56');
  assert.equal(r.own?.ipv6Subnet, 'fd00:5:0:34::/64');
  assert.equal(r.peers[0]?.publicIPv6, '2001:db8::2');
  const text = formatStatus(r, 0);
  assert.match(text, /^Network: {2}10\.5\.0\.0\/16 and fd00:5::\/56 \(backend host-gw\)/m);
  assert.match(text, /FLANNEL_IPV6_SUBNET=fd00:5:0:34::1\/64/);
  assert.match(text, /10\.5\.53\.0\/24 fd00:5:0:35::\/64 +192\.0\.2\.2 2001:db8::2 +host-gw/);
});

test('doctor: dual-stack vxlan warns when FLANNEL_MTU leaves no room for the 70 bytes of VXLAN over IPv6', async () => {
  const { checkVxlan6Mtu } = await import('../../src/ops/doctor-checks.js');
  const vx = parseNetworkConfig('{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:5::/56","Backend":{"Type":"vxlan"}}');
  const facts = (mtu: string, config = vx): DoctorFacts => ({ etcd: { config }, backendOverride: null, subnetFile: '/run/flannel/subnet.env',
    subnetEnv: { FLANNEL_MTU: mtu }, iface: { name: 'eth0', ifaceAddr: '192.0.2.1', extAddr: '192.0.2.1', mtu: 1500 } } as unknown as DoctorFacts);
  const warn = checkVxlan6Mtu(facts('1450'));
  assert.equal(warn.status, 'warn');
  assert.match(warn.fix ?? '', /"MTU":1480 .*FLANNEL_MTU becomes 1430/);
  assert.equal(checkVxlan6Mtu(facts('1430')).status, 'ok');
  assert.equal(checkVxlan6Mtu(facts('1450', DUAL)).status, 'skip', 'host-gw has no encapsulation');
});
