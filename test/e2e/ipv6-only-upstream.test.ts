// IPv6-only host-gw beside the real flanneld v0.28.9 (issue 17): h1 runs v0.28.9, h2 tsflanneld, both with
// EnableIPv4 false on one etcd. Both write the same kind of `0.0.0.0-0&<v6>-<len>` lease and subnet.env, and
// tsflanneld routes v0.28.9's IPv6 subnet via its PublicIPv6. No ping: v0.28.9's etcd watcher marks every lease
// EnableIPv4 (registry.go, "only vxlan backend and kube subnet manager support dual stack"), so with the etcd subnet
// manager it installs `0.0.0.0/0 via 0.0.0.0` for a peer and never its IPv6 route (vxlan: it stops at the nil
// IPv4 device); upstream IPv6-only works only with the kube subnet manager. v0.28.9 starts first: it finds "its own"
// lease by PublicIP, 0.0.0.0 for every IPv6-only node, so it would take a lease written before it (notes/w-v6only.md).
// The binary comes from /work/shared/upstream/build.sh (or a folder in TSF_UPSTREAM_DIR); without it the suite is skipped.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addIpv6Underlay, ipv6RoutesReport, ipv6SubnetOf, underlay6, waitForIpv6OnlyEnv, waitForIpv6Route } from '../support/ipv6-lab.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';
import { Testbed, UNDERLAY_IFACE, type Host } from '../support/testbed.js';
import { readSubnetEnvVars } from '../support/subnet-env.js';

const PREFIX = '/coreos.com/network';
const BACKEND = 'host-gw';
const CONFIG = { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:32::/56', Backend: { Type: BACKEND } };
const skip = testbedUnavailable() ?? upstreamUnavailable('v0.28.9');

describe('IPv6-only host-gw: tsflanneld beside flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;

  const waitForEnv = (h: Host): Promise<boolean> => waitForIpv6OnlyEnv(tb, h, 45_000);

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    await addIpv6Underlay(tb);
    await tb.putConfig(CONFIG);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('both write IPv6-only leases and subnet.env alike; tsflanneld routes v0.28.9\'s IPv6 subnet', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    startUpstream(tb, h1, 'v0.28.9', { prefix: PREFIX, publicIPv4: false, extraArgs: [`-public-ipv6=${underlay6(h1)}`] });
    await waitForEnv(h1);
    tb.startDaemon(h2, ['--vxlan-datapath', 'kernel']);
    await waitForEnv(h2);
    const leases = await tb.leases();
    assert.equal(leases.size, 2, [...leases.keys()].join(', '));
    for (const h of tb.hosts) {
      const env = readSubnetEnvVars(h.subnetFile);
      assert.deepEqual(Object.keys(env), ['FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU', 'FLANNEL_IPMASQ'], h.name);
      const key = `${PREFIX}/subnets/0.0.0.0-0&${(env.FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::-64')}`;
      const head = `{"PublicIP":"0.0.0.0","PublicIPv6":"${underlay6(h)}","BackendType":"${BACKEND}"`;
      assert.ok(leases.get(key)?.startsWith(head), `${key}: ${leases.get(key)}`);
    }
    const dst = ipv6SubnetOf(h1);
    const route = await waitForIpv6Route(h2, dst, `h2: IPv6 route to v0.28.9's ${dst}`);
    assert.equal(route.gateway, underlay6(h1));
    assert.equal(route.dev, UNDERLAY_IFACE);
  }, () => ipv6RoutesReport(tb)));
});
