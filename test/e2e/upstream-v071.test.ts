// tsflanneld beside the real flanneld v0.7.1 (the seed's version, etcd v2) on one etcd --enable-v2, the network config
// written exactly as the seed does (`ETCDCTL_API=2 etcdctl set <prefix>/config < etcd.sh`), tsflanneld on the default
// --etcd-api=auto. vxlan: a v0.7.1 node (L3-miss mode) with a kernel-datapath and a userspace-datapath tsflanneld node;
// host-gw: a v0.7.1 node with a tsflanneld node under a second prefix. Containers ping in every direction.
// The binary comes from ../shared/upstream/build.sh (found by test/support/upstream-flanneld.ts, or in
// $TSF_UPSTREAM_DIR); without it the suite is skipped with one line saying so.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { startPing } from '../support/ping-run.js';
import { CLI_JS, poll, Testbed, type Container, type Host } from '../support/testbed.js';
import { inNetns, mustExec } from '../support/netns.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';

const VXLAN_PREFIX = '/usr/local/bin/network';
const HOSTGW_PREFIX = '/hostgw/network';
const skip = testbedUnavailable()
  ?? upstreamUnavailable('v0.7.1')
  ?? (fs.existsSync('/dev/net/tun') ? null : 'needs /dev/net/tun');

describe('tsflanneld beside flanneld v0.7.1 on etcd v2', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;

  /** The seed's step: the config file piped into CentOS 7's etcdctl (v2 API by default). */
  async function setConfigAsTheSeed(prefix: string, json: string): Promise<void> {
    await mustExec(inNetns(tb.host(1).netns, ['env', 'ETCDCTL_API=2', 'etcdctl', '--endpoints', tb.etcdEndpoint, 'set', `${prefix}/config`]),
      { input: `${json}\n` });
  }

  /** Runs the real v0.7.1 on `host` (its log goes to the host's log file, it is killed with the testbed). */
  function startV071(host: Host, prefix: string): void {
    startUpstream(tb, host, 'v0.7.1', { prefix });
  }

  async function pingsEveryWay(cs: readonly Container[]): Promise<void> {
    for (const a of cs) for (const b of cs) if (a !== b) await tb.waitForPing(a, b.ip, 45_000);
  }

  before(async () => {
    tb = await Testbed.create({ hosts: 5, prefix: VXLAN_PREFIX, etcdV2: true });
  });

  after(async () => {
    await tb?.destroy();
  });

  it('vxlan: v0.7.1, tsflanneld kernel and tsflanneld userspace reach each other\'s containers', async () => {
    await setConfigAsTheSeed(VXLAN_PREFIX, '{"Network":"10.7.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}');
    const [h1, h2, h3] = [tb.host(1), tb.host(2), tb.host(3)];
    startV071(h1, VXLAN_PREFIX);
    tb.startDaemon(h2, ['--vxlan-datapath', 'kernel']);
    tb.startDaemon(h3, ['--vxlan-datapath', 'userspace']);
    for (const h of [h1, h2, h3]) await tb.waitForSubnetEnv(h, 45_000);
    assert.match(tb.daemonLog(h2), /using the etcd v2 API/);
    // v0.7.1's lease (its JSON, a TTL) is there beside ours.
    const v071Lease = (await mustExec(inNetns(h1.netns, ['env', 'ETCDCTL_API=2', 'etcdctl', '--endpoints', tb.etcdEndpoint,
      'ls', `${VXLAN_PREFIX}/subnets`]))).trim().split('\n');
    assert.equal(v071Lease.length, 3, `three leases: ${v071Lease.join(', ')}`);
    const cs = [await tb.addContainer(h1, 'c1'), await tb.addContainer(h2, 'c1'), await tb.addContainer(h3, 'c1')];
    await pingsEveryWay(cs);
    // The real thing ran in its L3-miss mode: one route for the whole network on flannel.1, still running now.
    assert.ok((await tb.routes(h1)).some((r) => /^10\.7\.0\.0\/16 dev flannel\.1\b/.test(r)), (await tb.routes(h1)).join('\n'));
    assert.equal(h1.daemon?.exitCode, null, tb.daemonLog(h1).slice(-2000));
  });

  const v2ctl = (args: readonly string[]): Promise<string> =>
    mustExec(inNetns(tb.host(1).netns, ['env', 'ETCDCTL_API=2', 'etcdctl', '--endpoints', tb.etcdEndpoint, ...args]));
  const leaseKeyOf = (env: { subnet: string }): string => `${VXLAN_PREFIX}/subnets/${env.subnet.replace(/\.1\/(\d+)$/, '.0-$1')}`;

  it('vxlan: a lease removal is seen both ways (v0.7.1 drops its FDB entry, tsflanneld its route)', async () => {
    const h1 = tb.host(1);
    const h2 = tb.host(2);
    // A tsflanneld node that leaves: v0.7.1 programs its VtepMAC into the FDB, and removes it with the lease.
    const h6 = await tb.addHost();
    tb.startDaemon(h6, ['--vxlan-datapath', 'kernel']);
    const env6 = await tb.waitForSubnetEnv(h6, 45_000);
    const key6 = leaseKeyOf(env6);
    const mac6 = (JSON.parse(await v2ctl(['get', key6])) as { BackendData: { VtepMAC: string } }).BackendData.VtepMAC;
    const fdb = async (): Promise<string> => mustExec(['bridge', '-n', h1.netns, 'fdb', 'show', 'dev', 'flannel.1']);
    await poll('v0.7.1 to add the FDB entry of the new tsflanneld node', async () => (await fdb()).includes(`${mac6} dst ${h6.ip}`), 30_000);
    await tb.stopDaemon(h6);
    await v2ctl(['rm', key6]);
    await poll('v0.7.1 to drop the FDB entry of the removed lease', async () => !(await fdb()).includes(mac6), 30_000);
    // A v0.7.1 node that leaves: tsflanneld (kernel datapath) drops its route.
    const h7 = await tb.addHost();
    startV071(h7, VXLAN_PREFIX);
    const env7 = await tb.waitForSubnetEnv(h7, 45_000);
    const net7 = env7.subnet.replace(/\.1\/(\d+)$/, '.0/$1');
    const hasRoute = async (): Promise<boolean> => (await tb.routes(h2)).some((r) => r.startsWith(`${net7} via `));
    await poll('tsflanneld to route to the new v0.7.1 node', hasRoute, 30_000);
    await tb.killDaemon(h7);
    await v2ctl(['rm', leaseKeyOf(env7)]);
    await poll('tsflanneld to drop the route of the removed v0.7.1 lease', async () => !(await hasRoute()), 30_000);
  });

  it('migrate-etcd with a ping running: one tsflanneld node follows to v3 live, one restarts; subnets kept; v0.7.1 still reached', async (t) => {
    const [h1, h2, h3] = [tb.host(1), tb.host(2), tb.host(3)];
    const [c1, c2] = [tb.container(h1), tb.container(h2)];
    const before3 = await tb.waitForSubnetEnv(h3);
    const ping = startPing(c1.netns, c2.ip, 200);
    let answered = 0;
    try {
      const migrated = await mustExec(inNetns(h1.netns, [process.execPath, CLI_JS, 'migrate-etcd', '--etcd-endpoints', tb.etcdEndpoint,
        '--etcd-prefix', VXLAN_PREFIX, '--from', 'v2', '--to', 'v3']));
      assert.match(migrated, /^config \/usr\/local\/bin\/network\/config: copied$/m);
      // h2 keeps running and follows (auto looks for the v3 config every 5 s).
      await poll('h2 to follow the network to v3', () => tb.daemonLog(h2).includes('switching from the v2 API to v3'), 30_000);
      // h3 is restarted: auto now finds the config in v3 and its copied lease by PublicIP.
      await tb.stopDaemon(h3);
      tb.startDaemon(h3, ['--vxlan-datapath', 'userspace']);
      assert.equal((await tb.waitForSubnetEnv(h3, 45_000)).subnet, before3.subnet, 'h3 keeps its subnet');
      assert.match(tb.daemonLog(h3).split('--- start').at(-1) ?? '', /using the etcd v3 API/);
      await pingsEveryWay([c1, c2, tb.container(h3)]);
      // A node that joins on v3 now is seen by the live-switched h2 (its watcher reads v3).
      const h8 = await tb.addHost();
      tb.startDaemon(h8, ['--vxlan-datapath', 'kernel']);
      await tb.waitForSubnetEnv(h8, 45_000);
      const c8 = await tb.addContainer(h8, 'c1');
      await tb.waitForPing(c8, c2.ip, 45_000);
      await tb.waitForPing(c2, c8.ip, 45_000);
    } finally {
      const report = await ping.stop();
      t.diagnostic(`ping c1 → c2 across migrate, h2's live switch and h3's restart: ${report.summary}`);
      answered = report.received;
    }
    assert.ok(answered > 0);
  });

  it('host-gw: v0.7.1 and tsflanneld reach each other\'s containers', async () => {
    await setConfigAsTheSeed(HOSTGW_PREFIX, '{"Network":"10.8.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}');
    const [h4, h5] = [tb.host(4), tb.host(5)];
    startV071(h4, HOSTGW_PREFIX);
    tb.startDaemon(h5, ['--etcd-prefix', HOSTGW_PREFIX]);
    for (const h of [h4, h5]) await tb.waitForSubnetEnv(h, 45_000);
    const cs = [await tb.addContainer(h4, 'c1'), await tb.addContainer(h5, 'c1')];
    await pingsEveryWay(cs);
    assert.ok((await tb.routes(h4)).some((r) => r.startsWith(`${cs[1]!.ip.replace(/\.\d+$/, '.0')}/24 via ${h5.ip}`)), (await tb.routes(h4)).join('\n'));
    assert.equal(h4.daemon?.exitCode, null, tb.daemonLog(h4).slice(-2000));
  });
});
