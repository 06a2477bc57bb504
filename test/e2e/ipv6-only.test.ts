// IPv6-only networks end to end (issue 17, EnableIPv4 false): two hosts in namespaces on one underlay bridge with
// IPv6 addresses (2001:db8::/64; the IPv4 underlay is there only for etcd), a tsflanneld per host and a container
// per host with only an IPv6 address. For host-gw and kernel vxlan: upstream's `0.0.0.0-0&<v6>-<len>` keys and
// values, subnet.env without FLANNEL_NETWORK/FLANNEL_SUBNET, no IPv4 flannel device or route, and ping and TCP
// (bytes hashed) both ways between the containers.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addIpv6Underlay, ipv6RoutesReport, ipv6SubnetOf, underlay6, waitForIpv6OnlyEnv, waitForIpv6Route } from '../support/ipv6-lab.js';
import { CLI_JS, poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';
import { readSubnetEnvVars } from '../support/subnet-env.js';

const PREFIX = '/usr/local/bin/network';
const skip = testbedUnavailable();

for (const backend of ['host-gw', 'vxlan'] as const) {
  describe(`IPv6-only ${backend} on two hosts`, { skip: skip ?? false, timeout: 180_000 }, () => {
    let tb: Testbed;
    const config = { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:60::/56', Backend: { Type: backend } };

    before(async () => {
      tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
      await addIpv6Underlay(tb);
      await tb.putConfig(config);
      for (const h of tb.hosts) tb.startDaemon(h, ['--vxlan-datapath', 'kernel']);
      for (const h of tb.hosts) {
        await waitForIpv6OnlyEnv(tb, h, 30_000);
        await tb.addContainer6(h, 'c1');
      }
    });

    after(async () => {
      await tb?.destroy();
    });

    const withLogs = (fn: () => Promise<void>): Promise<void> => tb.explainFailure(fn, () => ipv6RoutesReport(tb));

    it('writes upstream\'s IPv6-only keys and values, and subnet.env without the IPv4 pair', () => withLogs(async () => {
      const leases = await tb.leases();
      assert.equal(leases.size, 2, [...leases.keys()].join(', '));
      for (const h of tb.hosts) {
        const env = readSubnetEnvVars(h.subnetFile);
        assert.deepEqual(Object.keys(env), ['FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ']);
        assert.equal(env.FLANNEL_IPV6_NETWORK, 'fd00:60::/56');
        assert.match(env.FLANNEL_IPV6_SUBNET ?? '', /^fd00:60:0:[0-9a-f]+::1\/64$/);
        const v6 = (env.FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::-64');
        const value = leases.get(`${PREFIX}/subnets/0.0.0.0-0&${v6}`);
        assert.ok(value, `no key 0.0.0.0-0&${v6} among ${[...leases.keys()].join(', ')}`);
        if (backend === 'host-gw') assert.equal(value, `{"PublicIP":"0.0.0.0","PublicIPv6":"${underlay6(h)}","BackendType":"host-gw"}`);
        else assert.match(value, new RegExp(`^\\{"PublicIP":"0\\.0\\.0\\.0","PublicIPv6":"${underlay6(h)}","BackendType":"vxlan",`
          + '"BackendV6Data":\\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\\}\\}$'));
      }
    }));

    it('programs only the IPv6 side: the peer\'s IPv6 subnet routed, no IPv4 flannel device', () => withLogs(async () => {
      const [h1, h2] = tb.hosts as [Host, Host];
      const route = await waitForIpv6Route(h1, ipv6SubnetOf(h2));
      if (backend === 'host-gw') {
        assert.equal(route.gateway, underlay6(h2));
        assert.equal(route.dev, UNDERLAY_IFACE);
      } else {
        assert.equal(route.dev, 'flannel-v6.1');
        const dev = JSON.parse(await mustExec(['ip', '-n', h1.netns, '-d', '-j', 'link', 'show', 'flannel-v6.1'])) as
          Array<{ linkinfo?: { info_data?: { local6?: string; id?: number } } }>;
        assert.equal(dev[0]?.linkinfo?.info_data?.local6, underlay6(h1));
      }
      for (const h of tb.hosts) {
        const links = JSON.parse(await mustExec(['ip', '-n', h.netns, '-j', 'link', 'show'])) as Array<{ ifname: string }>;
        assert.ok(!links.some((l) => l.ifname === 'flannel.1'), `${h.name} has flannel.1`);
      }
    }));

    it('`tsflanneld status` shows the IPv6 side only, and finds the own lease', () => withLogs(async () => {
      const [h1, h2] = tb.hosts as [Host, Host];
      const run = async (extra: string[]): Promise<string> => {
        const r = await tb.exec(h1, [process.execPath, CLI_JS, 'status', ...extra, ...tb.daemonArgs(h1)]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const report = JSON.parse(await run(['--json'])) as { network: string | null; ipv6Network: string;
        own: { subnet: string | null; ipv6Subnet: string } | null; peers: Array<{ publicIPv6: string }> };
      assert.equal(report.network, null);
      assert.equal(report.ipv6Network, 'fd00:60::/56');
      assert.equal(report.own?.ipv6Subnet, ipv6SubnetOf(h1));
      assert.equal(report.own?.subnet, null);
      assert.deepEqual(report.peers.map((p) => p.publicIPv6), [underlay6(h2)]);
      const text = await run([]);
      assert.doesNotMatch(text, /0\.0\.0\.0/, text);
    }));

    it('carries ping and TCP between the containers both ways', () => withLogs(async () => {
      const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
      await poll('ping -6 a → b', () => tb.ping(a, b.ip), 30_000, 100);
      await poll('ping -6 b → a', () => tb.ping(b, a.ip), 30_000, 100);
      for (const [from, to] of [[a, b], [b, a]] as Array<[Container, Container]>) {
        const t = await tb.tcpTransfer(from, to, 1 << 20);
        assert.equal(t.bytesReceived, 1 << 20);
        assert.equal(t.receivedSha256, t.sentSha256);
      }
    }));
  });
}
