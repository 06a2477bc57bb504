import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import { parseCidr6 } from '../../src/net/ipv6.js';
import type { LeaseContext } from '../../src/lifecycle.js';
import { checkEtcd, checkForwardPolicy, checkIpForward, checkIpv6Forward, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { leaseStatusLine } from '../../src/ops/extension.js';
import { DaemonCounts } from '../../src/ops/counts.js';
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

// IPv6-only (EnableIPv4 false): every lease's IPv4 half is upstream's empty 0.0.0.0/0 and its PublicIP 0.0.0.0;
// the tools print only the IPv6 family and tell hosts apart by PublicIPv6.
const V6ONLY = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:61::/56","Backend":{"Type":"host-gw"}}');
const v6OnlyLease = (v6: string, ip6: string): Lease => ({ subnet: { ip: 0, prefixLen: 0 }, ipv6Subnet: parseCidr6(v6),
  attrs: { publicIP: '0.0.0.0', publicIPv6: ip6, backendType: 'host-gw' }, expiration: null, etcdLeaseId: '0', revision: '1' });
const V6ONLY_LEASES = [v6OnlyLease('fd00:61:0:7::/64', '2001:db8::21'), v6OnlyLease('fd00:61:0:9::/64', '2001:db8::22')];

test('status, IPv6-only: no 0.0.0.0/0 anywhere, the own lease found by FLANNEL_IPV6_SUBNET', () => {
  const view = { configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets', configText: '',
    configError: null, config: V6ONLY, leases: V6ONLY_LEASES };
  const r = buildStatus(view, '/run/flannel/subnet.env', 'FLANNEL_IPV6_NETWORK=fd00:61::/56\nFLANNEL_IPV6_SUBNET=fd00:61:0:9::1/64\n'
    + 'FLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n', null);
  assert.equal(r.network, null);
  assert.equal(r.own?.ipv6Subnet, 'fd00:61:0:9::/64');
  assert.equal(r.own?.subnet, null);
  assert.equal(r.own?.publicIP, null);
  assert.deepEqual(r.peers.map((p) => p.publicIPv6), ['2001:db8::21']);
  const text = formatStatus(r, 0);
  assert.doesNotMatch(text, /0\.0\.0\.0/);
  assert.match(text, /^Network: {2}fd00:61::\/56 \(backend host-gw\)/m);
  assert.match(text, /^Local: .* FLANNEL_IPV6_SUBNET=fd00:61:0:9::1\/64 FLANNEL_MTU=1500/m);
  assert.doesNotMatch(text, /FLANNEL_SUBNET=\?/);
  assert.match(text, /^ {2}fd00:61:0:7::\/64 +2001:db8::21 +host-gw/m);
});

test('doctor, IPv6-only: the config names IPv6Network, hosts differ by PublicIPv6, IPv4 forwarding is not asked for', () => {
  const facts = { ipForward: '0\n', filterSave: ':FORWARD DROP [0:0]\n', etcd: { endpoints: 'http://127.0.0.1:2379',
    configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets', error: null, config: V6ONLY,
    configError: null, leases: V6ONLY_LEASES } } as unknown as DoctorFacts;
  const byId = new Map(checkEtcd(facts).map((c) => [c.id, c]));
  assert.equal(byId.get('network_config')?.detail, 'IPv6Network fd00:61::/56, IPv6SubnetLen 64, backend host-gw');
  assert.equal(byId.get('duplicate_public_ip')?.status, 'ok');
  assert.equal(checkIpForward(facts).status, 'skip');
  assert.equal(checkForwardPolicy(facts).status, 'skip');
  const twin = { ...facts, etcd: { ...facts.etcd, leases: [V6ONLY_LEASES[0]!, v6OnlyLease('fd00:61:0:8::/64', '2001:db8::21')] } };
  const dup = checkEtcd(twin).find((c) => c.id === 'duplicate_public_ip');
  assert.equal(dup?.status, 'fail');
  assert.match(dup?.fix ?? '', /subnets\/0\.0\.0\.0-0&fd00:61:0:8::-64/, 'the hint names the real key');
});

test('metrics, IPv6-only: each peer counts once though all share the IPv4 half 0.0.0.0/0', () => {
  const counts = new DaemonCounts();
  assert.equal(counts.peerReset(V6ONLY_LEASES), 2);
  assert.equal(counts.peerEvents([{ type: 'removed', lease: V6ONLY_LEASES[0]! }]), 1);
});

test('sd_notify status line, IPv6-only and dual-stack: only the families the lease has', () => {
  const ctx = (config: typeof V6ONLY, lease: Lease): LeaseContext => ({ config, lease, mtu: 1500 } as unknown as LeaseContext);
  assert.equal(leaseStatusLine(ctx(V6ONLY, V6ONLY_LEASES[0]!)),
    'Lease fd00:61:0:7::/64 of fd00:61::/56, PublicIP 2001:db8::21, backend host-gw, MTU 1500');
  const dual: Lease = { ...V6ONLY_LEASES[0]!, subnet: parseCidr('10.5.7.0/24') as Ipv4Net, attrs: { ...V6ONLY_LEASES[0]!.attrs, publicIP: '192.0.2.21' } };
  assert.equal(leaseStatusLine(ctx(DUAL, dual)),
    'Lease 10.5.7.0/24 fd00:61:0:7::/64 of 10.5.0.0/16 and fd00:5::/56, PublicIP 192.0.2.21 2001:db8::21, backend host-gw, MTU 1500');
});

test('doctor: flannel-v6.<VNI>\'s own MTU is checked against the 70 bytes too, in an IPv6-only network as well', async () => {
  const { checkVxlan6Mtu } = await import('../../src/ops/doctor-checks.js');
  const v6only = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:61::/56","Backend":{"Type":"vxlan","VNI":4}}');
  const facts = (deviceMtu: number, env: Record<string, string> | null): DoctorFacts => ({ etcd: { config: v6only },
    backendOverride: null, subnetFile: '/run/flannel/subnet.env', subnetEnv: env,
    kernel: { links: [{ index: 7, name: 'flannel-v6.4', kind: 'vxlan', mtu: deviceMtu }], routes: [] },
    iface: { name: 'eth0', ifaceAddr: '2001:db8::21', extAddr: '2001:db8::21', mtu: 1500 } } as unknown as DoctorFacts);
  const warn = checkVxlan6Mtu(facts(1450, null));
  assert.equal(warn.status, 'warn');
  assert.match(warn.detail, /^flannel-v6\.4 MTU 1450 is above 1430 /);
  assert.equal(checkVxlan6Mtu(facts(1430, { FLANNEL_MTU: '1430' })).status, 'ok');
  assert.match(checkVxlan6Mtu(facts(1430, { FLANNEL_MTU: '1450' })).detail, /^FLANNEL_MTU=1450 is above 1430/);
});
