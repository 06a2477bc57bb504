// Dual-stack kernel vxlan with DirectRouting (issue 17): two tsflanneld hosts on one L2 underlay (IPv4 and IPv6)
// route each other's subnets via the peer's PublicIP / PublicIPv6 instead of through the vxlan devices, as upstream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { ipv6SubnetOf, underlay6, waitForIpv6Route, startDualStackCluster } from '../support/ipv6-lab.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';

const CONFIG = { Network: '10.33.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:33::/56',
  Backend: { Type: 'vxlan', DirectRouting: true } };
const skip = testbedUnavailable();

describe('dual-stack vxlan with DirectRouting', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 2, config: CONFIG });
    await startDualStackCluster(tb, v6Of);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('routes the peer\'s IPv6 subnet via its PublicIPv6 and carries pings in both families', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const route = await waitForIpv6Route(h1, ipv6SubnetOf(h2));
    assert.equal(route.gateway, underlay6(h2));
    assert.equal(route.dev, UNDERLAY_IFACE);
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await tb.waitForPing(a, b.ip);
    await poll('ping -6 a → b', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
    await poll('ping -6 b → a', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
  }));
});
