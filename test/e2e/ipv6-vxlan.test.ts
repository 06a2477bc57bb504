// Dual-stack vxlan (kernel datapath) beside the real flanneld v0.28.9 (issue 17): h1 and h3 run tsflanneld with
// --vxlan-datapath=kernel, h2 the real v0.28.9, all with EnableIPv6 on one etcd over an IPv6 underlay too. Each has
// flannel.1 and flannel-v6.1 and publishes BackendV6Data; containers ping each other both ways in both families. The binary comes from /work/shared/upstream/build.sh (or
// a folder in TSF_UPSTREAM_DIR); without it the suite is skipped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { mustExec } from '../support/netns.js';
import { addDualStackContainer, addIpv6Underlay, ipv6RoutesReport, underlay6 } from '../support/ipv6-lab.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';

const PREFIX = '/coreos.com/network';
const CONFIG = { Network: '10.32.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:32::/56', Backend: { Type: 'vxlan' } };
const skip = testbedUnavailable() ?? upstreamUnavailable('v0.28.9');

describe('dual-stack vxlan (kernel): tsflanneld beside flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  const startV0289 = (host: Host): void =>
    startUpstream(tb, host, 'v0.28.9', { prefix: PREFIX, extraArgs: [`-public-ipv6=${underlay6(host)}`] });

  async function dualContainer(h: Host): Promise<Container> {
    const [c, v6] = await addDualStackContainer(tb, h);
    v6Of.set(c, v6);
    return c;
  }

  before(async () => {
    tb = await Testbed.create({ hosts: 3, prefix: PREFIX });
    await addIpv6Underlay(tb);
    await tb.putConfig(CONFIG);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('every pair of containers pings both ways in both families', () => tb.explainFailure(async () => {
    const [h1, h2, h3] = tb.hosts as [Host, Host, Host];
    tb.startDaemon(h1, ['--vxlan-datapath', 'kernel']);
    startV0289(h2);
    tb.startDaemon(h3, ['--vxlan-datapath', 'kernel']);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h, 45_000);
    // The real v0.28.9 wrote a dual-stack key like ours.
    const leases = await tb.leases();
    assert.equal(leases.size, 3);
    for (const [k, v] of leases) {
      assert.match(k, /^\/coreos\.com\/network\/subnets\/10\.32\.\d+\.0-24&fd00:32:0:[0-9a-f]+::-64$/);
      assert.match(v, /"BackendV6Data":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}/, v);
    }
    // flannel-v6.1 as upstream makes it: local = PublicIPv6 on the underlay device.
    const dev = await mustExec(['ip', '-n', h1.netns, '-d', 'link', 'show', 'flannel-v6.1']);
    assert.match(dev, new RegExp(`vxlan id 1 local ${underlay6(h1)} dev ${UNDERLAY_IFACE}`));
    const cs = [];
    for (const h of tb.hosts) cs.push(await dualContainer(h));
    for (const a of cs) {
      for (const b of cs) {
        if (a === b) continue;
        await tb.waitForPing(a, b.ip, 45_000);
        await poll(`ping -6 ${a.netns} → ${v6Of.get(b)}`, () => tb.ping(a, v6Of.get(b)!), 45_000, 200);
      }
    }
    // An entry no lease backs (an earlier run's) is removed by the resync.
    await mustExec(['ip', '-n', h1.netns, '-6', 'neigh', 'add', 'fd00:32:0:ee::', 'lladdr', '02:00:00:00:00:ee', 'dev', 'flannel-v6.1', 'nud', 'permanent']);
    await poll('stale IPv6 neighbour removed from flannel-v6.1', async () =>
      !(await mustExec(['ip', '-n', h1.netns, '-6', 'neigh', 'show', 'dev', 'flannel-v6.1'])).includes('fd00:32:0:ee::'), 30_000, 500);
    // TCP, bytes hashed, between the two tsflanneld nodes in both families.
    const [c1, , c3] = cs as [Container, Container, Container];
    for (const ip of [c3.ip, v6Of.get(c3)!]) {
      const t = await tb.tcpTransfer(c1, { ...c3, ip }, 1 << 20);
      assert.equal(t.bytesReceived, 1 << 20, ip);
      assert.equal(t.receivedSha256, t.sentSha256, ip);
    }
  }, async () => `${await tb.routesReport()}\n${await ipv6RoutesReport(tb)}`));
});
