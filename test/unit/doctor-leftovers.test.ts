import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { parseCidr, parseIPv4, type Ipv4Net } from '../../src/net/ipv4.js';
import { RT_TABLE_MAIN } from '../../src/netlink/codec.js';
import { RTN_UNICAST, TSFLANNELD_ROUTE_PROTOCOL, type KernelRoute } from '../../src/netlink/routes.js';
import { checkDockerOpts, runChecks, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { checkLeftovers, type KernelFacts } from '../../src/ops/doctor-leftovers.js';

const ETH0 = { index: 2, name: 'eth0', kind: 'veth' };
const FLANNEL1 = { index: 7, name: 'flannel.1', kind: 'vxlan' };
const vxlan = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
const hostgw = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}');

function route(dst: string, o: { via?: string; oif: number; protocol?: number; onlink?: boolean }): KernelRoute {
  return { dst: parseCidr(dst) as Ipv4Net, gateway: o.via === undefined ? null : parseIPv4(o.via), oif: o.oif, table: RT_TABLE_MAIN,
    protocol: o.protocol ?? TSFLANNELD_ROUTE_PROTOCOL, scope: 0, type: RTN_UNICAST, onlink: o.onlink ?? false, priority: null, prefsrc: null };
}

const hostgwPeerRoute = route('10.5.53.0/24', { via: '192.0.2.12', oif: ETH0.index });

test('leftovers: a host on vxlan with only its own device and routes has none', () => {
  const kernel: KernelFacts = { links: [ETH0, FLANNEL1],
    routes: [route('10.5.53.0/24', { via: '10.5.53.0', oif: FLANNEL1.index, protocol: 3, onlink: true })] };
  assert.equal(checkLeftovers('vxlan', vxlan, ETH0.index, kernel).status, 'ok');
});

test('leftovers: after a restart into host-gw, vxlan\'s flannel.1 (and the route on it) is reported with its removal', () => {
  const kernel: KernelFacts = { links: [ETH0, FLANNEL1], routes: [route('10.5.0.0/16', { oif: FLANNEL1.index }), hostgwPeerRoute] };
  const r = checkLeftovers('host-gw', hostgw, ETH0.index, kernel);
  assert.equal(r.status, 'warn');
  assert.match(r.detail, /device flannel\.1 \(vxlan\)/);
  assert.doesNotMatch(r.detail, /10\.5\.53\.0/, 'host-gw\'s own peer route is not a leftover');
  assert.match(r.fix ?? '', /^ip link delete flannel\.1 {2}\(tsflanneld also removes them when it starts\)$/);
});

test('leftovers: after a restart into vxlan, a host-gw route that would bypass VXLAN is reported with its removal', () => {
  const kernel: KernelFacts = { links: [ETH0, FLANNEL1], routes: [hostgwPeerRoute] };
  const r = checkLeftovers('vxlan', vxlan, ETH0.index, kernel);
  assert.equal(r.status, 'warn');
  assert.match(r.fix ?? '', /^ip route del 10\.5\.53\.0\/24 via 192\.0\.2\.12 dev eth0 proto 84 /);
  // Routes outside the Network or of another protocol are not ours.
  const foreign = { links: [ETH0], routes: [route('10.6.1.0/24', { via: '192.0.2.12', oif: 2 }), route('10.5.9.0/24', { via: '192.0.2.9', oif: 2, protocol: 4 })] };
  assert.equal(checkLeftovers('vxlan', vxlan, ETH0.index, foreign).status, 'ok');
});

test('leftovers: another VNI\'s device is reported; without a config or kernel facts the check skips', () => {
  const vni2 = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan","VNI":2}}');
  const r = checkLeftovers('vxlan', vni2, ETH0.index, { links: [ETH0, FLANNEL1, { index: 9, name: 'flannel.2', kind: 'vxlan' }], routes: [] });
  assert.equal(r.status, 'warn');
  assert.match(r.detail, /flannel\.1/);
  assert.doesNotMatch(r.detail, /flannel\.2/);
  assert.equal(checkLeftovers('vxlan', null, ETH0.index, { links: [], routes: [] }).status, 'skip');
  assert.equal(checkLeftovers('vxlan', vxlan, ETH0.index, null).status, 'skip');
});

function facts(over: Partial<DoctorFacts>): DoctorFacts {
  return {
    ipForward: '1\n', filterSave: null, brNetfilter: true, vxlanModule: 'loaded', devTun: true,
    iface: { name: 'eth0', index: ETH0.index, ifaceAddr: '192.0.2.11', extAddr: '192.0.2.11', mtu: 1500 },
    subnetFile: '/run/flannel/subnet.env', subnetEnv: { FLANNEL_SUBNET: '10.5.52.1/24', FLANNEL_MTU: '1500' },
    dockerBridgeMtu: null, boundUdpPorts: new Set(), vxlanDevices: [], daemonRunning: true, vxlanDatapath: 'kernel',
    backendOverride: null,
    etcd: { endpoints: 'http://192.0.2.11:2379', configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets',
      error: null, config: hostgw, configError: null, leases: [] },
    ...over,
  };
}

test('doctor runs the leftovers check with the config\'s backend and the external interface', () => {
  const r = runChecks(facts({ kernel: { links: [ETH0, FLANNEL1], routes: [] } })).find((c) => c.id === 'leftovers');
  assert.equal(r?.status, 'warn');
  assert.match(r?.detail ?? '', /the config says host-gw/);
});

test('docker_opts: a file from before a live switch (old MTU) warns with the mk-docker-opts command that rewrites it', () => {
  const rh = { path: '/run/flannel/docker', text: 'DOCKER_OPT_BIP="--bip=10.5.52.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\n'
    + 'DOCKER_OPT_MTU="--mtu=1450"\nDOCKER_NETWORK_OPTIONS=" --bip=10.5.52.1/24 --ip-masq=true --mtu=1450"\n' };
  const r = checkDockerOpts(facts({ dockerOptsFiles: [rh] }));
  assert.equal(r.status, 'warn');
  assert.match(r.detail, /--mtu=1450 but FLANNEL_MTU=1500/);
  assert.equal(r.fix, 'tsflanneld mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker && systemctl restart docker');
  const fresh = { path: rh.path, text: rh.text.replaceAll('1450', '1500') };
  assert.equal(checkDockerOpts(facts({ dockerOptsFiles: [fresh] })).status, 'ok');
  const combinedOnly = { path: '/run/docker_opts.env', text: 'DOCKER_OPTS=" --bip=10.5.99.1/24 --mtu=1500"\n' };
  const c = checkDockerOpts(facts({ dockerOptsFiles: [combinedOnly] }));
  assert.match(c.detail, /--bip=10\.5\.99\.1\/24 but FLANNEL_SUBNET=10\.5\.52\.1\/24/);
  assert.match(c.fix ?? '', /^tsflanneld mk-docker-opts -c -d \/run\/docker_opts\.env /);
  assert.equal(checkDockerOpts(facts({})).status, 'skip');
});

test('leftovers: flannel-v6.<VNI> is vxlan\'s in a dual-stack network, a leftover after a restart into host-gw', () => {
  const v6dev = { index: 8, name: 'flannel-v6.1', kind: 'vxlan' };
  const kernel: KernelFacts = { links: [ETH0, FLANNEL1, v6dev], routes: [] };
  const dual = (type: string): ReturnType<typeof parseNetworkConfig> =>
    parseNetworkConfig(`{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:5::/56","Backend":{"Type":"${type}"}}`);
  assert.equal(checkLeftovers('vxlan', dual('vxlan'), ETH0.index, kernel).status, 'ok');
  const r = checkLeftovers('host-gw', dual('host-gw'), ETH0.index, kernel);
  assert.equal(r.status, 'warn');
  assert.match(r.fix ?? '', /^ip link delete flannel\.1 && ip link delete flannel-v6\.1 /);
  const v6only = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:5::/56","Backend":{"Type":"vxlan"}}');
  assert.match(checkLeftovers('vxlan', v6only, ETH0.index, kernel).detail, /device flannel\.1 \(vxlan\)$/, 'IPv6-only vxlan has no flannel.1');
});
