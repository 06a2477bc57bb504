// Issue 21's "Done when", played as the seed's own story on one etcd 3.4 with --enable-v2:
// 1. the network config written with the seed's command, `ETCDCTL_API=2 etcdctl set <prefix>/config < etcd.sh`;
// 2. two real flanneld v0.7.1 nodes and two tsflanneld nodes (kernel and userspace VXLAN datapath, the seed's
//    --etcd-prefix, the default --etcd-api=auto) with one container each: every container reaches every other, and
//    TCP bytes cross between a v0.7.1 container and the userspace node's container both ways;
// 3. `tsflanneld migrate-etcd --from v2 --to v3` with a ping running between the tsflanneld containers: both daemons
//    follow to v3 without a restart and keep their subnets (the loss is reported, no threshold);
// 4. the seed's backend change written to v3 (`ETCDCTL_API=3 etcdctl put … host-gw`): within 5 s every tsflanneld node
//    has FLANNEL_MTU=1500, a host-gw lease in v3 and nothing of vxlan left, and its container reaches the other's.
// The cases share one testbed and run in order. Without the v0.7.1 binary (../shared/upstream/build.sh) the suite is
// skipped with one line saying so.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { inNetns, mustExec } from '../support/netns.js';
import { startPing, type PingRun } from '../support/ping-run.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { readSubnetEnv } from '../support/subnet-env.js';
import { CLI_JS, poll, Testbed, type Container, type Host } from '../support/testbed.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';

const PREFIX = '/usr/local/bin/network';
const NETWORK = '10.0.0.0/16';
const VXLAN_CONFIG = `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"vxlan"}}`;
const HOSTGW_CONFIG = `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"host-gw"}}`;
/** The bound for a config change to reach every running tsflanneld node. */
const SWITCH_WAIT_MS = 5_000;
/** v0.7.1 answers neighbours on demand (L3-miss mode), so its first packets take a moment. */
const PING_WAIT_MS = 45_000;
const TCP_BYTES = 2 << 20;
const FOLLOW_LINE = 'switching from the v2 API to v3';
const skip = testbedUnavailable(['bridge'])
  ?? upstreamUnavailable('v0.7.1')
  ?? (fs.existsSync('/dev/net/tun') ? null : 'needs /dev/net/tun for the userspace datapath');

interface LeaseValue { PublicIP: string; BackendType: string }

describe('the seed\'s cluster: v0.7.1 and tsflanneld on etcd v2, migrated to v3, switched to host-gw', { skip: skip ?? false, timeout: 360_000 }, () => {
  let tb: Testbed;
  /** h1, h2: the real flanneld v0.7.1. */
  let old: [Host, Host];
  /** h3: tsflanneld on the kernel datapath; h4: on the userspace datapath. */
  let ts: [Host, Host];
  const subnets = new Map<string, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 4, prefix: PREFIX, etcdV2: true });
    old = [tb.host(1), tb.host(2)];
    ts = [tb.host(3), tb.host(4)];
  });

  after(async () => {
    await tb?.destroy();
  });

  /** etcdctl with an explicit API version, run from h1 (etcd listens on h1's underlay address). */
  const etcdctl = (api: 2 | 3, args: readonly string[]): Promise<string> =>
    mustExec(inNetns(tb.host(1).netns, ['env', `ETCDCTL_API=${api}`, 'etcdctl', '--endpoints', tb.etcdEndpoint, ...args]));
  const out = async (h: Host, argv: readonly string[]): Promise<string> => (await tb.exec(h, argv)).stdout.trim();
  const netOf = (h: Host): string => subnets.get(h.name)!.replace(/\.1\/(\d+)$/, '.0/$1');
  const containers = (): Container[] => tb.hosts.map((h) => tb.container(h));

  async function pingsEveryWay(cs: readonly Container[]): Promise<void> {
    for (const a of cs) for (const b of cs) if (a !== b) await tb.waitForPing(a, b.ip, PING_WAIT_MS);
  }

  async function v3Leases(): Promise<LeaseValue[]> {
    return [...(await tb.leases()).values()].map((v) => JSON.parse(v) as LeaseValue);
  }

  /** A ping between the two tsflanneld containers, already answered a few times. */
  async function pingBetweenTsflanneld(): Promise<PingRun> {
    const ping = startPing(tb.container(ts[0]).netns, tb.container(ts[1]).ip);
    await poll('the ping between the tsflanneld containers running', () => ping.lastAnswered() > 5, 15_000);
    return ping;
  }

  async function stopAndReport(t: TestContext, ping: PingRun, what: string): Promise<number> {
    const report = await ping.stop();
    t.diagnostic(`ping ${ts[0].name} → ${ts[1].name} (kernel → userspace datapath) ${what}: ${report.summary}`);
    return report.received;
  }

  it('the seed\'s commands: two v0.7.1 and two tsflanneld nodes on etcd v2, every container reaches every other', (t) => tb.explainFailure(async () => {
    // The seed's file and command, verbatim: CentOS 7's etcdctl speaks v2, the value comes on stdin.
    const etcdSh = path.join(tb.dir, 'etcd.sh');
    fs.writeFileSync(etcdSh, `${VXLAN_CONFIG}\n`);
    await mustExec(inNetns(tb.host(1).netns, ['sh', '-c', `ETCDCTL_API=2 etcdctl --endpoints "$1" set ${PREFIX}/config < "$2"`,
      'sh', tb.etcdEndpoint, etcdSh]));
    assert.equal((await etcdctl(3, ['get', `${PREFIX}/config`])), '', 'nothing in the v3 store yet');
    for (const h of old) startUpstream(tb, h, 'v0.7.1', { prefix: PREFIX });
    // daemonArgs carry --etcd-prefix=/usr/local/bin/network; --etcd-api is left at its default (auto).
    tb.startDaemon(ts[0], ['--vxlan-datapath', 'kernel']);
    tb.startDaemon(ts[1], ['--vxlan-datapath', 'userspace']);
    for (const h of tb.hosts) {
      const env = await tb.waitForSubnetEnv(h, 45_000);
      assert.equal(env.mtu, 1450, `${h.name}: vxlan's MTU`);
      subnets.set(h.name, env.subnet);
    }
    for (const h of ts) assert.match(tb.daemonLog(h), /using the etcd v2 API/);
    const v2Keys = (await etcdctl(2, ['ls', `${PREFIX}/subnets`])).split('\n').filter((l) => l !== '');
    assert.equal(v2Keys.length, 4, `four leases in the v2 store: ${v2Keys.join(', ')}`);
    assert.equal(new Set(subnets.values()).size, 4, 'four distinct subnets');

    for (const h of tb.hosts) await tb.addContainer(h, 'c1');
    await pingsEveryWay(containers());
    t.diagnostic('4×4: each of the 4 containers answered a ping from each of the other 3');
    // v0.7.1 really ran in its L3-miss mode: one route for the whole network on flannel.1.
    for (const h of old) {
      assert.ok((await tb.routes(h)).some((r) => r.startsWith(`${NETWORK} dev flannel.1`)), (await tb.routes(h)).join('\n'));
    }
    // TCP with the bytes checked, v0.7.1 (kernel VXLAN) ↔ tsflanneld's userspace datapath, both ways.
    for (const [from, to] of [[old[0], ts[1]], [ts[1], old[0]]] as const) {
      const r = await tb.tcpTransfer(tb.container(from), tb.container(to), TCP_BYTES);
      assert.equal(r.bytesReceived, r.bytesSent, `${from.name} → ${to.name}: bytes`);
      assert.equal(r.receivedSha256, r.sentSha256, `${from.name} → ${to.name}: content`);
      t.diagnostic(`TCP ${from.name} → ${to.name}: ${r.bytesReceived} bytes arrived intact`);
    }
  }));

  it('migrate-etcd --from v2 --to v3 with a ping running: both tsflanneld nodes follow to v3 live and keep their subnets', (t) => tb.explainFailure(async () => {
    const ping = await pingBetweenTsflanneld();
    let answered = 0;
    try {
      const migrated = await mustExec(inNetns(tb.host(1).netns, [process.execPath, CLI_JS, 'migrate-etcd',
        '--etcd-endpoints', tb.etcdEndpoint, '--etcd-prefix', PREFIX, '--from', 'v2', '--to', 'v3']));
      t.diagnostic(`migrate-etcd said:\n${migrated.trim()}`);
      assert.match(migrated, new RegExp(`^config ${PREFIX}/config: copied$`, 'm'));
      assert.match(migrated, /^4 of 4 leases copied/m);
      // Under auto a daemon on v2 looks for the v3 config every 5 s and moves when it is the same one.
      for (const h of ts) {
        await poll(`${h.name} to follow the network to v3`, () => tb.daemonLog(h).includes(FOLLOW_LINE), 30_000);
        assert.equal(tb.daemonLog(h).split('\n').filter((l) => l.includes(FOLLOW_LINE)).length, 1, `${h.name}: said once`);
      }
      for (const h of ts) {
        const status = JSON.parse(await out(h, [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(h)])) as
          { etcdApi?: string; own: { subnet: string; publicIP: string } | null };
        assert.equal(status.etcdApi, 'v3', `${h.name}: status shows the v3 API`);
        assert.equal(status.own?.subnet, netOf(h), `${h.name}: its lease, read from v3`);
        assert.equal(readSubnetEnv(h.subnetFile)?.subnet, subnets.get(h.name), `${h.name} kept its subnet`);
        assert.equal(h.daemon?.exitCode, null, `${h.name}'s daemon still the one started on v2`);
      }
      // The lease manager renews in v3 now: each tsflanneld lease is there, at its old subnet, under its PublicIP.
      const v3 = await tb.leases();
      for (const h of ts) {
        const value = v3.get(`${PREFIX}/subnets/${netOf(h).replace('/', '-')}`);
        assert.equal(value === undefined ? undefined : (JSON.parse(value) as LeaseValue).PublicIP, h.ip, `${h.name}'s lease in v3`);
      }
      const mark = ping.lastAnswered();
      await poll('the ping still answered after both followed', () => ping.lastAnswered() > mark + 10, 15_000);
      // Mid-rollout, the v0.7.1 nodes (still on v2) are reached too: their leases were copied to v3 with ~24 h left,
      // and ours stay in v2 as long. The README's rolling path replaces them before migrating, so this is a bonus.
      await pingsEveryWay(containers());
    } finally {
      answered = await stopAndReport(t, ping, 'across migrate-etcd and both live follows to v3');
    }
    assert.ok(answered > 0);
  }));

  it('host-gw written to v3 reaches both tsflanneld nodes within 5 s: MTU 1500, host-gw leases, nothing of vxlan left', (t) => tb.explainFailure(async () => {
    // The v0.7.1 nodes stay on v2 and vxlan here. A real rollout replaces them with tsflanneld before this switch
    // (the README's rolling path): v0.7.1 reads the config once and only from v2, so it would never follow.
    // What must go: vxlan's device and its routes on it (so the checks below can fail).
    for (const h of ts) {
      assert.match(await out(h, ['ip', '-o', 'link', 'show']), /\bflannel\.1\b/, `${h.name} on vxlan before the switch`);
      assert.match(await out(h, ['ip', 'route', 'show']), /dev flannel\.1\b/, `${h.name} routes over flannel.1 before the switch`);
    }
    const ping = await pingBetweenTsflanneld();
    let answered = 0;
    try {
      const t0 = Date.now();
      await mustExec(inNetns(tb.host(1).netns, ['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', tb.etcdEndpoint,
        'put', `${PREFIX}/config`, HOSTGW_CONFIG]));
      const deadline = t0 + SWITCH_WAIT_MS;
      const left = (): number => Math.max(0, deadline - Date.now());
      for (const h of ts) {
        await poll(`${h.name}: FLANNEL_MTU=1500 within ${SWITCH_WAIT_MS} ms`, () => readSubnetEnv(h.subnetFile)?.mtu === 1500, left(), 50);
        await poll(`${h.name}: its v3 lease of BackendType host-gw within ${SWITCH_WAIT_MS} ms`,
          async () => (await v3Leases()).some((v) => v.PublicIP === h.ip && v.BackendType === 'host-gw'), left(), 100);
        await poll(`${h.name}: no flannel.* device within ${SWITCH_WAIT_MS} ms`,
          async () => !/\bflannel\./.test(await out(h, ['ip', '-o', 'link', 'show'])), left(), 100);
        await poll(`${h.name}: no route on flannel.1 within ${SWITCH_WAIT_MS} ms`, async () => {
          const all = await out(h, ['ip', 'route', 'show']);
          const ours = await out(h, ['ip', 'route', 'show', 'proto', '84']);
          return !/flannel/.test(all) && !/dev flannel/.test(ours);
        }, left(), 100);
      }
      t.diagnostic(`both tsflanneld nodes had MTU 1500, a host-gw lease and no vxlan state ${Date.now() - t0} ms after the put`);
      for (const h of ts) {
        assert.equal(readSubnetEnv(h.subnetFile)?.subnet, subnets.get(h.name), `${h.name} kept its subnet`);
        assert.equal(tb.daemonLog(h).split('\n').filter((l) => l.includes('backend switched from vxlan to host-gw')).length, 1,
          `${h.name}: the change in one log line`);
        const peer = ts.find((o) => o !== h)!;
        await poll(`${h.name}'s host-gw route to ${peer.name}`, async () =>
          (await out(h, ['ip', 'route', 'show', netOf(peer)])).startsWith(`${netOf(peer)} via ${peer.ip} dev eth0`), 15_000);
      }
      // The v0.7.1 leases (copied to v3 by migrate, vxlan) are a cluster mid-switch: each warned about once per node.
      for (const h of ts) {
        for (const o of old) {
          const warned = (): string[] => tb.daemonLog(h).split('\n').filter((l) => l.includes('"level":40')
            && l.includes(`${netOf(o)} of ${o.ip} has BackendType \\"vxlan\\", not host-gw`));
          await poll(`${h.name} to warn about ${o.name}'s vxlan lease`, () => warned().length > 0, 15_000);
          assert.equal(warned().length, 1, `${h.name} warns once about ${o.name}'s lease:\n${warned().join('\n')}`);
        }
      }
      await pingsEveryWay(ts.map((h) => tb.container(h)));
      const mark = ping.lastAnswered();
      await poll('the ping answered over host-gw', () => ping.lastAnswered() > mark + 10, 15_000);
      // v2 still holds the vxlan config the v0.7.1 nodes run on: status says the two stores differ.
      const status = JSON.parse(await out(ts[0], [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(ts[0])])) as
        { etcdApi?: string; backend: string | null; apiWarning?: string | null };
      assert.equal(status.etcdApi, 'v3');
      assert.equal(status.backend, 'host-gw');
      assert.ok(status.apiWarning, 'status warns that v2 and v3 hold different configs');
      for (const h of old) assert.equal(h.daemon?.exitCode, null, `${h.name}'s v0.7.1 still running`);
    } finally {
      answered = await stopAndReport(t, ping, 'across the vxlan → host-gw switch');
    }
    assert.ok(answered > 0);
  }));
});
