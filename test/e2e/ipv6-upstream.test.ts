// Dual-stack host-gw beside the real flanneld v0.28.9 (issue 17): h1 and h3 run tsflanneld, h2 the real v0.28.9,
// all with EnableIPv6 on one etcd. Each reads the others' dual-stack leases and routes both families; containers
// ping each other both ways in both families. The binary comes from /work/shared/upstream/build.sh (or
// a folder in TSF_UPSTREAM_DIR); without it the suite is skipped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addDualStackContainer, addIpv6Underlay, ipv6RoutesReport, underlay6 } from '../support/ipv6-lab.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';

const PREFIX = '/coreos.com/network';
const CONFIG = { Network: '10.31.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:31::/56', Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable() ?? upstreamUnavailable('v0.28.9');

describe('dual-stack host-gw: tsflanneld beside flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
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
    tb.startDaemon(h1);
    startV0289(h2);
    tb.startDaemon(h3);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h, 45_000);
    // The real v0.28.9 wrote a dual-stack key like ours.
    const keys = [...(await tb.leases()).keys()];
    assert.equal(keys.length, 3);
    for (const k of keys) assert.match(k, /^\/coreos\.com\/network\/subnets\/10\.31\.\d+\.0-24&fd00:31:0:[0-9a-f]+::-64$/);
    const cs = [];
    for (const h of tb.hosts) cs.push(await dualContainer(h));
    for (const a of cs) {
      for (const b of cs) {
        if (a === b) continue;
        await tb.waitForPing(a, b.ip, 45_000);
        await poll(`ping -6 ${a.netns} → ${v6Of.get(b)}`, () => tb.ping(a, v6Of.get(b)!), 45_000, 200);
      }
    }
  }, async () => `${await tb.routesReport()}\n${await ipv6RoutesReport(tb)}`));
});
