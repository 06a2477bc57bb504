// Dual-stack beside the real flanneld v0.28.9 (issue 17), on host-gw and on vxlan (tsflanneld with
// --vxlan-datapath=kernel): h1 and h3 run tsflanneld, h2 the real v0.28.9, all with EnableIPv6 on one etcd over an
// IPv6 underlay too. Each reads the others' dual-stack leases and routes both families; containers ping each other
// both ways in both families. On vxlan each has flannel.1 and flannel-v6.1 and publishes BackendV6Data, a stale IPv6
// neighbour is resynced away, and TCP (bytes hashed) runs between the tsflanneld nodes in both families. The binary
// comes from /work/shared/upstream/build.sh (or a folder in TSF_UPSTREAM_DIR); without it the suite is skipped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { mustExec } from '../support/netns.js';
import { addDualStackContainers, addIpv6Underlay, dualStackRoutesReport, startBesideV0289, underlay6, waitForPingsBothFamilies } from '../support/ipv6-lab.js';
import { upstreamUnavailable } from '../support/upstream-flanneld.js';
import { poll, Testbed, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';

const PREFIX = '/coreos.com/network';
const skip = testbedUnavailable() ?? upstreamUnavailable('v0.28.9');

const CASES = [
  { title: 'host-gw', backend: 'host-gw', n: 31, daemonArgs: [] },
  { title: 'vxlan (kernel)', backend: 'vxlan', n: 32, daemonArgs: ['--vxlan-datapath', 'kernel'] },
] as const;

for (const cs of CASES) describe(`dual-stack ${cs.title}: tsflanneld beside flanneld v0.28.9`, { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 3, prefix: PREFIX, config: { Network: `10.${cs.n}.0.0/16`, EnableIPv6: true,
      IPv6Network: `fd00:${cs.n}::/56`, Backend: { Type: cs.backend } } });
    await addIpv6Underlay(tb);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('every pair of containers pings both ways in both families', () => tb.explainFailure(async () => {
    const [h1] = tb.hosts as [Host];
    await startBesideV0289(tb, cs.daemonArgs);
    // The real v0.28.9 wrote a dual-stack key like ours.
    const leases = await tb.leases();
    assert.equal(leases.size, 3);
    for (const [k, v] of leases) {
      assert.match(k, new RegExp(`^/coreos\\.com/network/subnets/10\\.${cs.n}\\.\\d+\\.0-24&fd00:${cs.n}:0:[0-9a-f]+::-64$`));
      if (cs.backend === 'vxlan') assert.match(v, /"BackendV6Data":\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\}/, v);
    }
    if (cs.backend === 'vxlan') {
      // flannel-v6.1 as upstream makes it: local = PublicIPv6 on the underlay device.
      const dev = await mustExec(['ip', '-n', h1.netns, '-d', 'link', 'show', 'flannel-v6.1']);
      assert.match(dev, new RegExp(`vxlan id 1 local ${underlay6(h1)} dev ${UNDERLAY_IFACE}`));
    }
    const containers = await addDualStackContainers(tb, v6Of);
    await waitForPingsBothFamilies(tb, v6Of);
    if (cs.backend !== 'vxlan') return;
    // An entry no lease backs (an earlier run's) is removed by the resync.
    const stale = `fd00:${cs.n}:0:ee::`;
    await mustExec(['ip', '-n', h1.netns, '-6', 'neigh', 'add', stale, 'lladdr', '02:00:00:00:00:ee', 'dev', 'flannel-v6.1', 'nud', 'permanent']);
    await poll('stale IPv6 neighbour removed from flannel-v6.1', async () =>
      !(await mustExec(['ip', '-n', h1.netns, '-6', 'neigh', 'show', 'dev', 'flannel-v6.1'])).includes(stale), 30_000, 500);
    // TCP, bytes hashed, between the two tsflanneld nodes in both families.
    const [c1, , c3] = containers as [Container, Container, Container];
    for (const ip of [c3.ip, v6Of.get(c3)!]) {
      const t = await tb.tcpTransfer(c1, { ...c3, ip }, 1 << 20);
      assert.equal(t.bytesReceived, 1 << 20, ip);
      assert.equal(t.receivedSha256, t.sentSha256, ip);
    }
  }, () => dualStackRoutesReport(tb)));
});
