// The udp backend beside the real upstream binaries on one etcd (--enable-v2 so both APIs are served):
// v0.28.9 (etcd v3, `"Backend":{"Type":"udp"}`) with two tsflanneld nodes, and v0.7.1 (etcd v2, a config with no
// Backend at all, which means udp) with one tsflanneld node. Containers ping and move TCP bytes (hashes compared)
// in every direction; tsflanneld's lease, device, MTU and route are upstream's; junk datagrams at port 8285 are
// counted and dropped while traffic goes on.
// The binaries come from ../shared/upstream/build.sh (see test/harness/upstream-flanneld.ts); without them the suite
// is skipped with one line.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';
import { inNetns, mustExec } from '../support/netns.js';
import { readLiveState, stateFilePath } from '../../src/ops/state-file.js';

const V3_PREFIX = '/udp3/network';
const V2_PREFIX = '/udp2/network';
const skip = testbedUnavailable()
  ?? upstreamUnavailable('v0.28.9') ?? upstreamUnavailable('v0.7.1')
  ?? (fs.existsSync('/dev/net/tun') ? null : 'needs /dev/net/tun');

describe('udp backend beside upstream flanneld v0.28.9 (etcd v3) and v0.7.1 (etcd v2)', { skip: skip ?? false, timeout: 300_000 }, () => {
  let tb: Testbed;

  async function everyWay(cs: readonly Container[]): Promise<void> {
    for (const a of cs) for (const b of cs) if (a !== b) await tb.waitForPing(a, b.ip, 45_000);
    for (const a of cs) {
      for (const b of cs) {
        if (a === b) continue;
        const r = await tb.tcpTransfer(a, b, 3_000_000);
        assert.equal(r.bytesReceived, r.bytesSent, `${a.netns} → ${b.ip}: bytes`);
        assert.equal(r.receivedSha256, r.sentSha256, `${a.netns} → ${b.ip}: content`);
      }
    }
  }

  /** A datapath drop counter from the daemon's state file (rewritten every few seconds). */
  function drops(host: Host, reason: string): number {
    return readLiveState(stateFilePath(host.subnetFile))?.counters[reason] ?? 0;
  }

  before(async () => {
    tb = await Testbed.create({ hosts: 5, prefix: V3_PREFIX, etcdV2: true });
  });

  after(async () => {
    await tb?.destroy();
  });

  it('v0.28.9 and two tsflanneld nodes: pings and TCP every way, upstream\'s lease, device and route', async () => {
    await tb.putConfig({ Network: '10.9.0.0/16', SubnetLen: 24, Backend: { Type: 'udp' } }, V3_PREFIX);
    const [h1, h2, h3] = [tb.host(1), tb.host(2), tb.host(3)];
    startUpstream(tb, h1, 'v0.28.9', { prefix: V3_PREFIX });
    tb.startDaemon(h2, ['--etcd-prefix', V3_PREFIX]);
    tb.startDaemon(h3, ['--etcd-prefix', V3_PREFIX]);
    const envs: Array<{ subnet: string; mtu: number }> = [];
    for (const h of [h1, h2, h3]) envs.push(await tb.waitForSubnetEnv(h, 45_000));
    // FLANNEL_MTU as upstream's: ext − 28, on every node.
    assert.deepEqual(envs.map((e) => e.mtu), envs.map(() => envs[0]!.mtu));
    const leases = await tb.leases(V3_PREFIX);
    const ours = [...leases].find(([k]) => k.endsWith(envs[1]!.subnet.replace(/\.1\/(\d+)$/, '.0-$1')));
    assert.ok(ours, [...leases.keys()].join(', '));
    assert.deepEqual(JSON.parse(ours[1]), { PublicIP: h2.ip, PublicIPv6: null }, 'a udp lease has no BackendType');
    const link = JSON.parse(await mustExec(['ip', '-n', h2.netns, '-j', 'link', 'show', 'flannel0'])) as Array<{ mtu: number }>;
    assert.equal(link[0]!.mtu, envs[0]!.mtu);
    assert.ok((await tb.routes(h2)).some((r) => /^10\.9\.0\.0\/16 dev flannel0\b/.test(r)), (await tb.routes(h2)).join('\n'));
    // The tunnel-GSO send path is vxlan's: a udp node makes no TAP for it.
    assert.doesNotMatch(await mustExec(['ip', '-n', h2.netns, 'link', 'show']), /gso/);
    const cs = [await tb.addContainer(h1, 'c1'), await tb.addContainer(h2, 'c1'), await tb.addContainer(h3, 'c1')];
    await everyWay(cs);
    // Each proxy hop lowers the TTL as upstream's does: 64, −1 per host route, −1 per udp hop = 60 on arrival,
    // the same whether the other end is upstream (c1) or tsflanneld (c3).
    for (const to of [cs[0]!, cs[2]!]) {
      const out = await mustExec(inNetns(cs[1]!.netns, ['ping', '-n', '-c', '1', '-W', '2', to.ip]));
      assert.match(out, /ttl=60\b/, `reply from ${to.ip}: ${out}`);
    }
    // A subnet nobody leases: ICMP net unreachable at once, as upstream's proxy answers.
    const unreachable = await tb.exec(cs[1]!, ['ping', '-n', '-c', '1', '-W', '2', '10.9.250.9']);
    assert.match(unreachable.stdout, /Destination Net Unreachable/, unreachable.stdout);
    assert.equal(h1.daemon?.exitCode, null, tb.daemonLog(h1).slice(-2000));
  });

  it('junk datagrams at port 8285 are dropped and counted; the node keeps carrying traffic', async () => {
    const [h1, h2] = [tb.host(1), tb.host(2)];
    // From h1 (a known peer's PublicIP) so the junk gets past the source check into the packet checks, and from
    // an address no lease names.
    const junk = 'const d=require("dgram").createSocket("udp4");let n=0;const b=Buffer.alloc(1400);'
      + 'const go=()=>{for(let i=0;i<200;i++){require("crypto").randomFillSync(b,0,1+(i*7)%1400);'
      + `d.send(b,0,1+(i*7)%1400,8285,"${h2.ip}")}if(++n<5)setTimeout(go,20);else setTimeout(()=>d.close(),50)};go();`;
    for (const from of [h1, tb.host(4)]) await mustExec(inNetns(from.netns, [process.execPath, '-e', junk]));
    const c1 = tb.container(h1);
    const c2 = tb.container(h2);
    await tb.waitForPing(c1, c2.ip, 15_000);
    await tb.waitForPing(c2, c1.ip, 15_000);
    assert.equal(h2.daemon?.exitCode, null, tb.daemonLog(h2).slice(-2000));
    await poll('h2 to count the junk as drops', () => drops(h2, 'drop_not_ipv4') > 0 && drops(h2, 'drop_unknown_source') > 0, 30_000);
  });

  it('flannel0 deleted by hand comes back with traffic; a stopped node takes flannel0 with it, as upstream', async () => {
    const [h1, h3] = [tb.host(1), tb.host(3)];
    const [c1, c3] = [tb.container(h1), tb.container(h3)];
    await mustExec(['ip', '-n', h3.netns, 'link', 'del', 'flannel0']);
    await tb.waitForPing(c3, c1.ip, 45_000);
    await tb.waitForPing(c1, c3.ip, 45_000);
    assert.ok((await tb.routes(h3)).some((r) => /^10\.9\.0\.0\/16 dev flannel0\b/.test(r)), (await tb.routes(h3)).join('\n'));
    assert.match(tb.daemonLog(h3), /flannel0 reopened, addressed and routed/);
    assert.equal(await tb.stopDaemon(h3), 0);
    const links = await mustExec(['ip', '-n', h3.netns, '-o', 'link', 'show']);
    assert.doesNotMatch(links, /flannel0/);
  });

  it('live switch vxlan → udp (config without Backend) → vxlan: subnets kept, the other device gone, traffic both ways', async () => {
    const prefix = '/udpswitch/network';
    const hs = [await tb.addHost(), await tb.addHost()];
    await tb.putConfig({ Network: '10.13.0.0/16', Backend: { Type: 'vxlan' } }, prefix);
    for (const h of hs) tb.startDaemon(h, ['--etcd-prefix', prefix]);
    const subnets: string[] = [];
    for (const h of hs) subnets.push((await tb.waitForSubnetEnv(h, 45_000)).subnet);
    // vxlan takes 50 bytes of the underlay MTU, udp 28.
    const vxlanMtu = (await tb.waitForSubnetEnv(hs[0]!)).mtu;
    const cs = [await tb.addContainer(hs[0]!, 'c1'), await tb.addContainer(hs[1]!, 'c1')];
    const bothWays = async (): Promise<void> => {
      await tb.waitForPing(cs[0]!, cs[1]!.ip, 45_000);
      await tb.waitForPing(cs[1]!, cs[0]!.ip, 45_000);
    };
    await bothWays();
    const switched = async (mtu: number, device: string, gone: string, backendType: string | undefined): Promise<void> => {
      for (const [i, h] of hs.entries()) {
        await poll(`${h.name} to FLANNEL_MTU=${mtu}`, async () => (await tb.waitForSubnetEnv(h)).mtu === mtu, 30_000);
        assert.equal((await tb.waitForSubnetEnv(h)).subnet, subnets[i]);
        await poll(`${h.name} to have ${device} and not ${gone}`, async () => {
          const links = await mustExec(['ip', '-n', h.netns, '-o', 'link', 'show']);
          return links.includes(`${device}:`) && !links.includes(`${gone}:`);
        }, 30_000);
      }
      const values = [...(await tb.leases(prefix)).values()].map((v) => JSON.parse(v) as { BackendType?: string });
      assert.deepEqual(values.map((v) => v.BackendType), [backendType, backendType]);
      await bothWays();
    };
    await tb.putConfig({ Network: '10.13.0.0/16' }, prefix);
    await switched(vxlanMtu + 22, 'flannel0', 'flannel.1', undefined);
    await tb.putConfig({ Network: '10.13.0.0/16', Backend: { Type: 'vxlan' } }, prefix);
    await switched(vxlanMtu, 'flannel.1', 'flannel0', 'vxlan');
  });

  it('v0.7.1 (no Backend in the config: udp) and a tsflanneld node on etcd v2: pings and TCP both ways', async () => {
    await mustExec(inNetns(tb.host(1).netns, ['env', 'ETCDCTL_API=2', 'etcdctl', '--endpoints', tb.etcdEndpoint,
      'set', `${V2_PREFIX}/config`]), { input: '{"Network":"10.10.0.0/16","SubnetLen":24}\n' });
    const [h4, h5] = [tb.host(4), tb.host(5)];
    startUpstream(tb, h4, 'v0.7.1', { prefix: V2_PREFIX });
    tb.startDaemon(h5, ['--etcd-prefix', V2_PREFIX]);
    for (const h of [h4, h5]) await tb.waitForSubnetEnv(h, 45_000);
    assert.match(tb.daemonLog(h5), /using the etcd v2 API/);
    const cs = [await tb.addContainer(h4, 'c1'), await tb.addContainer(h5, 'c1')];
    await everyWay(cs);
    assert.ok((await tb.routes(h5)).some((r) => /^10\.10\.0\.0\/16 dev flannel0\b/.test(r)), (await tb.routes(h5)).join('\n'));
    assert.equal(h4.daemon?.exitCode, null, tb.daemonLog(h4).slice(-2000));
  });
});
