import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import type { Lease } from '../../src/subnet/lease.js';
import { formatChecks, runChecks, type CheckResult, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { parseProcNetUdp } from '../../src/ops/doctor.js';

function lease(subnet: string, publicIP: string): Lease {
  return { subnet: parseCidr(subnet) as Ipv4Net, attrs: { publicIP, publicIPv6: null, backendType: 'vxlan' },
    expiration: new Date(Date.now() + 3600_000), etcdLeaseId: '1', revision: '1' };
}

function healthy(): DoctorFacts {
  return {
    ipForward: '1\n', filterSave: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n', brNetfilter: true,
    vxlanModule: 'loaded', devTun: true, iface: { name: 'eth0', ifaceAddr: '192.0.2.11', extAddr: '192.0.2.11', mtu: 1500 },
    subnetFile: '/run/flannel/subnet.env', subnetEnv: { FLANNEL_SUBNET: '10.5.52.1/24', FLANNEL_MTU: '1450' },
    dockerBridgeMtu: null, boundUdpPorts: new Set(), vxlanDevices: [], daemonRunning: false, vxlanDatapath: 'userspace',
    backendOverride: null,
    etcd: { endpoints: 'http://192.0.2.11:2379', configKey: '/coreos.com/network/config', subnetsPrefix: '/coreos.com/network/subnets',
      error: null, config: parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}'), configError: null,
      leases: [lease('10.5.52.0/24', '192.0.2.11'), lease('10.5.53.0/24', '192.0.2.12')] },
  };
}

const byId = (rs: CheckResult[]): Map<string, CheckResult> => new Map(rs.map((r) => [r.id, r]));

test('a healthy host passes every check', () => {
  const rs = runChecks(healthy());
  assert.deepEqual(rs.filter((r) => r.status === 'fail' || r.status === 'warn'), []);
  assert.match(formatChecks(rs), /No problems found\.\n$/);
});

test('ip_forward off fails with the sysctl fix', () => {
  const r = byId(runChecks({ ...healthy(), ipForward: '0\n' })).get('ip_forward');
  assert.equal(r?.status, 'fail');
  assert.match(r?.fix ?? '', /^sysctl -w net\.ipv4\.ip_forward=1/);
});

test('FORWARD DROP fails without flannel\'s chain and passes with it', () => {
  const drop = '*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n';
  const failing = byId(runChecks({ ...healthy(), filterSave: drop })).get('forward_policy');
  assert.equal(failing?.status, 'fail');
  assert.match(failing?.fix ?? '', /iptables -A FORWARD -s 10\.5\.0\.0\/16 -j ACCEPT/);
  const withRules = `${drop.replace('COMMIT\n', '')}-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\nCOMMIT\n`;
  assert.equal(byId(runChecks({ ...healthy(), filterSave: withRules })).get('forward_policy')?.status, 'ok');
});

test('MTU: FLANNEL_MTU above what the interface allows fails; docker0 above FLANNEL_MTU fails', () => {
  const small = { ...healthy(), iface: { name: 'eth0', ifaceAddr: '192.0.2.11', extAddr: '192.0.2.11', mtu: 1400 } };
  const mtu = byId(runChecks(small)).get('flannel_mtu');
  assert.equal(mtu?.status, 'fail');
  assert.match(mtu?.detail ?? '', /FLANNEL_MTU=1450 .* at most 1350/);
  const docker = byId(runChecks({ ...healthy(), dockerBridgeMtu: 1500 })).get('docker_bridge_mtu');
  assert.equal(docker?.status, 'fail');
  assert.match(docker?.fix ?? '', /mk-docker-opts -k DOCKER_NETWORK_OPTIONS/);
  assert.equal(byId(runChecks({ ...healthy(), dockerBridgeMtu: 1450 })).get('docker_bridge_mtu')?.status, 'ok');
});

test('host-gw expects FLANNEL_MTU equal to the interface MTU', () => {
  const f = { ...healthy(), backendOverride: 'host-gw', subnetEnv: { FLANNEL_MTU: '1450' } };
  assert.equal(byId(runChecks(f)).get('flannel_mtu')?.status, 'warn');
  assert.equal(byId(runChecks({ ...f, subnetEnv: { FLANNEL_MTU: '1500' } })).get('flannel_mtu')?.status, 'ok');
});

test('UDP 8472 bound by someone else fails unless flannel itself holds it', () => {
  const bound = { ...healthy(), boundUdpPorts: new Set([8472]) };
  assert.equal(byId(runChecks(bound)).get('udp_port')?.status, 'fail');
  assert.equal(byId(runChecks({ ...bound, daemonRunning: true })).get('udp_port')?.status, 'ok');
  assert.equal(byId(runChecks({ ...bound, vxlanDevices: [{ name: 'flannel.1', port: 8472 }] })).get('udp_port')?.status, 'ok');
  assert.equal(byId(runChecks({ ...healthy(), vxlanDevices: [{ name: 'vxlan0', port: 8472 }] })).get('udp_port')?.status, 'warn');
});

test('udp backend: port 8285 (or Backend.Port) bound by someone else fails; MTU ext − 28; /dev/net/tun required', () => {
  const udp = (backend: string): DoctorFacts => ({ ...healthy(), subnetEnv: { FLANNEL_SUBNET: '10.5.52.1/24', FLANNEL_MTU: '1472' },
    etcd: { ...healthy().etcd, config: parseNetworkConfig(`{"Network":"10.5.0.0/16"${backend}}`) } });
  const plain = udp('');
  assert.equal(byId(runChecks(plain)).get('flannel_mtu')?.status, 'ok');
  assert.equal(byId(runChecks(plain)).get('udp_port')?.status, 'ok');
  const bound = byId(runChecks({ ...plain, boundUdpPorts: new Set([8285]) })).get('udp_port');
  assert.equal(bound?.status, 'fail');
  assert.match(bound?.detail ?? '', /8285/);
  assert.equal(byId(runChecks({ ...plain, boundUdpPorts: new Set([8285]), daemonRunning: true })).get('udp_port')?.status, 'ok');
  const custom = udp(',"Backend":{"Type":"udp","Port":9000}');
  assert.equal(byId(runChecks({ ...custom, boundUdpPorts: new Set([8285]) })).get('udp_port')?.status, 'ok');
  assert.equal(byId(runChecks({ ...custom, boundUdpPorts: new Set([9000]) })).get('udp_port')?.status, 'fail');
  assert.equal(byId(runChecks({ ...plain, devTun: false })).get('dev_net_tun')?.status, 'fail');
});

test('kernel datapath without the vxlan module fails; userspace without /dev/net/tun fails', () => {
  assert.equal(byId(runChecks({ ...healthy(), vxlanModule: 'absent', vxlanDatapath: 'kernel' })).get('vxlan_module')?.status, 'fail');
  assert.equal(byId(runChecks({ ...healthy(), vxlanModule: 'absent' })).get('vxlan_module')?.status, 'warn');
  assert.equal(byId(runChecks({ ...healthy(), devTun: false })).get('dev_net_tun')?.status, 'fail');
});

test('etcd unreachable, a missing config and a duplicate PublicIP fail with etcdctl fixes', () => {
  const h = healthy();
  const down = byId(runChecks({ ...h, etcd: { ...h.etcd, error: 'cannot read etcd', config: null, leases: [] } }));
  assert.equal(down.get('etcd')?.status, 'fail');
  assert.equal(down.get('network_config')?.status, 'skip');
  const noConfig = byId(runChecks({ ...h, etcd: { ...h.etcd, config: null, configError: 'no network config at /x/config' } }));
  assert.equal(noConfig.get('network_config')?.status, 'fail');
  assert.match(noConfig.get('network_config')?.fix ?? '', /etcdctl --endpoints=http:\/\/192\.0\.2\.11:2379 put \/coreos\.com\/network\/config '\{/);
  const dup = byId(runChecks({ ...h, etcd: { ...h.etcd, leases: [...h.etcd.leases, lease('10.5.99.0/24', '192.0.2.11')] } }));
  assert.equal(dup.get('duplicate_public_ip')?.status, 'fail');
  assert.match(dup.get('duplicate_public_ip')?.fix ?? '', /del \/coreos\.com\/network\/subnets\/10\.5\.99\.0-24/);
});

test('the text output tags each check and counts failures', () => {
  const text = formatChecks(runChecks({ ...healthy(), ipForward: '0' }));
  assert.match(text, /^\[FAIL\] ip_forward: /m);
  assert.match(text, /^ {7}fix: sysctl/m);
  assert.match(text, /^1 check failed\.$/m);
});

test('/proc/net/udp local ports are hex', () => {
  const text = '  sl  local_address rem_address   st\n   0: 00000000:2118 00000000:0000 07\n   1: 0100007F:0035 00000000:0000 07\n';
  assert.deepEqual(parseProcNetUdp(text), [8472, 53]);
});
