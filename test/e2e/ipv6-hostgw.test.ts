// Dual-stack host-gw end to end (issue 17): two hosts in namespaces on one underlay bridge with IPv4 (192.0.2.0/24)
// and IPv6 (2001:db8::/64) addresses, etcd on h1, a tsflanneld per host with EnableIPv6, and a container per host
// with an address in each family. Checks upstream's dual-stack key and value, subnet.env's IPv6 lines, the IPv6
// routes via the peer's PublicIPv6, and ping and TCP (bytes hashed) between the containers in both families.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { ipv6RoutesReport, ipv6SubnetOf, underlay6, waitForIpv6Route, startDualStackCluster } from '../support/ipv6-lab.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';
import { parseSubnetEnv } from '../../src/subnet/subnet-env.js';
import * as fs from 'node:fs';

const PREFIX = '/usr/local/bin/network';
const CONFIG = { Network: '10.0.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:30::/56', Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable();

describe('dual-stack host-gw on two hosts', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX, config: CONFIG });
    // The kernel datapath so that the last case can switch the running network to vxlan.
    await startDualStackCluster(tb, v6Of);
  });

  after(async () => {
    await tb?.destroy();
  });

  const withLogs = (fn: () => Promise<void>): Promise<void> => tb.explainFailure(fn, () => ipv6RoutesReport(tb));

  it('writes upstream\'s dual-stack keys and values, and subnet.env with the IPv6 pair', () => withLogs(async () => {
    const leases = await tb.leases();
    assert.equal(leases.size, 2);
    for (const h of tb.hosts) {
      const env = parseSubnetEnv(fs.readFileSync(h.subnetFile, 'utf8'));
      assert.equal(env.FLANNEL_IPV6_NETWORK, 'fd00:30::/56');
      assert.match(env.FLANNEL_IPV6_SUBNET ?? '', /^fd00:30:0:[0-9a-f]+::1\/64$/);
      assert.deepEqual(Object.keys(env), ['FLANNEL_NETWORK', 'FLANNEL_SUBNET', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET',
        'FLANNEL_MTU', 'FLANNEL_IPMASQ']);
      const v4 = (env.FLANNEL_SUBNET ?? '').replace(/\.1\/24$/, '.0-24');
      const v6 = (env.FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::-64');
      const value = leases.get(`${PREFIX}/subnets/${v4}&${v6}`);
      assert.equal(value, `{"PublicIP":"${h.ip}","PublicIPv6":"${underlay6(h)}","BackendType":"host-gw"}`);
    }
  }));

  it('routes each peer\'s IPv6 subnet via its PublicIPv6 on the underlay interface', () => withLogs(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const route = await waitForIpv6Route(h1, ipv6SubnetOf(h2));
    assert.equal(route.gateway, underlay6(h2));
    assert.equal(route.dev, UNDERLAY_IFACE);
  }));

  it('puts back a deleted IPv6 route on the kernel\'s notice, as for IPv4', () => withLogs(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const dst = ipv6SubnetOf(h2);
    await waitForIpv6Route(h1, dst);
    const mark = tb.daemonLog(h1).length;
    await mustExec(['ip', '-n', h1.netns, '-6', 'route', 'del', dst]);
    const route = await waitForIpv6Route(h1, dst, `h1: ${dst} put back`);
    assert.equal(route.gateway, underlay6(h2));
    const since = (): Array<{ msg?: string; kind?: string; action?: string; route?: string }> => tb.daemonLog(h1).slice(mark)
      .split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string });
    // The netlink monitor's notice (not the 10 s check) is what sent the daemon looking.
    await poll('h1 logs the recovery', () => since().some((r) => r.msg === 'route recovered' && r.route?.startsWith(`${dst} `)), 30_000);
    assert.ok(since().some((r) => r.msg === 'kernel change concerns us; checking' && r.kind === 'route6' && r.action === 'del'),
      tb.daemonLog(h1).slice(mark));
  }));

  it('carries ping and TCP between the containers in both families', () => withLogs(async () => {
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await tb.waitForPing(a, b.ip);
    await tb.waitForPing(b, a.ip);
    await poll('ping -6 a → b', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
    await poll('ping -6 b → a', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
    for (const [from, to, ip] of [[a, b, b.ip], [b, a, v6Of.get(a)!]] as Array<[Container, Container, string]>) {
      const t = await tb.tcpTransfer(from, { ...to, ip }, 1 << 20);
      assert.equal(t.bytesReceived, 1 << 20);
      assert.equal(t.receivedSha256, t.sentSha256);
    }
  }));

  it('a live switch to vxlan brings up flannel-v6.1, publishes BackendV6Data and keeps IPv6 traffic flowing', () => withLogs(async () => {
    await tb.putConfig({ ...CONFIG, Backend: { Type: 'vxlan' } });
    await poll('both leases with BackendV6Data', async () =>
      [...(await tb.leases()).values()].filter((v) => /"BackendType":"vxlan".*"BackendV6Data":\{"VNI":1,"VtepMAC"/.test(v)).length === 2,
    45_000, 500);
    for (const h of tb.hosts) await mustExec(['ip', '-n', h.netns, 'link', 'show', 'flannel-v6.1']);
    // host-gw's IPv6 route is gone; the peer's IPv6 subnet now goes through flannel-v6.1.
    const [h1, h2] = tb.hosts as [Host, Host];
    const dst = ipv6SubnetOf(h2);
    await poll(`h1: ${dst} via flannel-v6.1`, async () => {
      const out = await mustExec(['ip', '-n', h1.netns, '-6', '-j', 'route', 'show', 'exact', dst]);
      const routes = JSON.parse(out || '[]') as Array<{ dev?: string }>;
      return routes.length === 1 && routes[0]?.dev === 'flannel-v6.1';
    }, 30_000, 200);
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await poll('ping -6 a → b over vxlan', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
    await poll('ping -6 b → a over vxlan', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
    await tb.waitForPing(a, b.ip);
  }));

  it('a restart into host-gw removes the flannel-v6.1 the vxlan run left, and IPv6 traffic flows over routes again', () => withLogs(async () => {
    const [h1] = tb.hosts as [Host, Host];
    await tb.stopDaemon(h1);
    await mustExec(['ip', '-n', h1.netns, 'link', 'show', 'flannel-v6.1']);
    await tb.putConfig(CONFIG);
    const mark = tb.daemonLog(h1).length;
    tb.startDaemon(h1, ['--vxlan-datapath', 'kernel']);
    await poll('h1 removes flannel-v6.1', () => tb.daemonLog(h1).slice(mark).includes('"device":"flannel-v6.1"'), 30_000);
    const links = JSON.parse(await mustExec(['ip', '-n', h1.netns, '-j', 'link', 'show'])) as Array<{ ifname: string }>;
    assert.deepEqual(links.filter((l) => l.ifname.startsWith('flannel')).map((l) => l.ifname), [], 'no flannel device left on h1');
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await poll('ping -6 a → b over host-gw', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
    await poll('ping -6 b → a over host-gw', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
  }));
});
