// IPv6-only host-gw beside the real flanneld v0.28.9 (issue 17): h1 runs v0.28.9, h2 tsflanneld, both with
// EnableIPv4 false on one etcd. Both write the same kind of `0.0.0.0-0&<v6>-<len>` lease and subnet.env, and
// tsflanneld routes v0.28.9's IPv6 subnet via its PublicIPv6. No ping: v0.28.9's etcd watcher marks every lease
// EnableIPv4 (registry.go, "only vxlan backend and kube subnet manager support dual stack"), so with the etcd subnet
// manager it installs `0.0.0.0/0 via 0.0.0.0` for a peer and never its IPv6 route (vxlan: it stops at the nil
// IPv4 device); upstream IPv6-only works only with the kube subnet manager. v0.28.9 starts first: it finds "its own"
// lease by PublicIP, 0.0.0.0 for every IPv6-only node, so it would take a lease written before it (notes/w-v6only.md).
// The binary comes from /work/shared/upstream/build.sh (or TSFL_FLANNELD_V0289); without it the suite is skipped.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { spawnTracked } from '../support/proc.js';
import { inNetns, mustExec } from '../support/netns.js';
import { poll, Testbed, UNDERLAY_IFACE, type Host } from '../support/testbed.js';
import { readSubnetEnvVars } from '../support/subnet-env.js';

const V0289 = process.env.TSFL_FLANNELD_V0289 ?? path.join(os.homedir(), '.cache', 'tsflanneld-upstream', 'flanneld-v0.28.9');
const PREFIX = '/coreos.com/network';
const BACKEND = 'host-gw';
const CONFIG = { EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:32::/56', Backend: { Type: BACKEND } };
const skip = testbedUnavailable()
  ?? (fs.existsSync(V0289) ? null : `needs flanneld v0.28.9 at ${V0289} (build it with bash /work/shared/upstream/build.sh)`);

const underlay6 = (h: Host): string => `2001:db8::${10 + h.index}`;

describe('IPv6-only host-gw: tsflanneld beside flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;

  function startUpstream(host: Host): void {
    const out = fs.openSync(host.logFile, 'a');
    fs.writeSync(out, `--- flanneld v0.28.9 ${new Date().toISOString()}\n`);
    host.daemon = spawnTracked('ip', ['netns', 'exec', host.netns, V0289, `-etcd-endpoints=${tb.etcdEndpoint}`,
      `-etcd-prefix=${PREFIX}`, `-iface=${UNDERLAY_IFACE}`, `-public-ipv6=${underlay6(host)}`,
      `-subnet-file=${host.subnetFile}`], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    host.daemonStartedAt = Date.now();
  }

  const waitForEnv = (h: Host): Promise<boolean> => poll(`${h.name}'s IPv6-only subnet.env`, () => {
    const d = h.daemon;
    if (d !== null && (d.exitCode !== null || d.signalCode !== null)) throw new Error(`daemon on ${h.name} exited:\n${tb.daemonLog(h).slice(-3000)}`);
    return readSubnetEnvVars(h.subnetFile).FLANNEL_IPV6_SUBNET !== undefined;
  }, 45_000);

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    for (const h of tb.hosts) {
      await mustExec(['ip', '-n', h.netns, 'addr', 'add', `${underlay6(h)}/64`, 'dev', UNDERLAY_IFACE, 'nodad']);
      await mustExec(inNetns(h.netns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']));
    }
    await tb.putConfig(CONFIG);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('both write IPv6-only leases and subnet.env alike; tsflanneld routes v0.28.9\'s IPv6 subnet', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    startUpstream(h1);
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
    const dst = (readSubnetEnvVars(h1.subnetFile).FLANNEL_IPV6_SUBNET ?? '').replace(/::1\/64$/, '::/64');
    const route = await poll(`h2: IPv6 route to v0.28.9's ${dst}`, async () => {
      const out = await mustExec(['ip', '-n', h2.netns, '-6', '-j', 'route', 'show', 'exact', dst]);
      return (JSON.parse(out || '[]') as Array<{ gateway?: string; dev?: string }>)[0];
    });
    assert.equal(route.gateway, underlay6(h1));
    assert.equal(route.dev, UNDERLAY_IFACE);
  }, async () => {
    const parts: string[] = [];
    for (const h of tb.hosts) parts.push(`===== ${h.name} -6 routes =====\n${await mustExec(['ip', '-n', h.netns, '-6', 'route', 'show'])}`);
    return parts.join('\n');
  }));
});
