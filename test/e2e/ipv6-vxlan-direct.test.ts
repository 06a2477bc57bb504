// Dual-stack kernel vxlan with DirectRouting (issue 17): two tsflanneld hosts on one L2 underlay (IPv4 and IPv6)
// route each other's subnets via the peer's PublicIP / PublicIPv6 instead of through the vxlan devices, as upstream.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { inNetns, mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, CONTAINER_BRIDGE, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';
import { parseSubnetEnv } from '../../src/subnet/subnet-env.js';

const CONFIG = { Network: '10.33.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:33::/56',
  Backend: { Type: 'vxlan', DirectRouting: true } };
const skip = testbedUnavailable();
const underlay6 = (h: Host): string => `2001:db8::${10 + h.index}`;

describe('dual-stack vxlan with DirectRouting', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    for (const h of tb.hosts) {
      await mustExec(['ip', '-n', h.netns, 'addr', 'add', `${underlay6(h)}/64`, 'dev', UNDERLAY_IFACE, 'nodad']);
      await mustExec(inNetns(h.netns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']));
    }
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) tb.startDaemon(h, ['--vxlan-datapath', 'kernel']);
    for (const h of tb.hosts) {
      await tb.waitForSubnetEnv(h);
      const c = await tb.addContainer(h, 'c1');
      const bridge6 = parseSubnetEnv(fs.readFileSync(h.subnetFile, 'utf8')).FLANNEL_IPV6_SUBNET as string;
      const [addr, len] = bridge6.split('/') as [string, string];
      const mine = addr.replace(/::1$/, '::2');
      await mustExec(['ip', '-n', h.netns, 'addr', 'add', bridge6, 'dev', CONTAINER_BRIDGE, 'nodad']);
      await mustExec(['ip', '-n', c.netns, 'addr', 'add', `${mine}/${len}`, 'dev', 'eth0', 'nodad']);
      await mustExec(['ip', '-n', c.netns, '-6', 'route', 'add', 'default', 'via', addr]);
      v6Of.set(c, mine);
    }
  });

  after(async () => {
    await tb?.destroy();
  });

  it('routes the peer\'s IPv6 subnet via its PublicIPv6 and carries pings in both families', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const dst = (parseSubnetEnv(fs.readFileSync(h2.subnetFile, 'utf8')).FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::/64');
    const route = await poll(`h1: IPv6 route to ${dst}`, async () => {
      const out = await mustExec(['ip', '-n', h1.netns, '-6', '-j', 'route', 'show', 'exact', dst]);
      return (JSON.parse(out || '[]') as Array<{ gateway?: string; dev?: string }>)[0];
    });
    assert.equal(route.gateway, underlay6(h2));
    assert.equal(route.dev, UNDERLAY_IFACE);
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await tb.waitForPing(a, b.ip);
    await poll('ping -6 a → b', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
    await poll('ping -6 b → a', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
  }));
});
