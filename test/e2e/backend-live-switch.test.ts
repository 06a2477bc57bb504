// Issue 21 item 5, the seed's switch measured: running tsflanneld daemons follow a Backend change in etcd without a
// restart and keep their subnets: vxlan (both datapaths) → host-gw → vxlan, a ping running between their containers
// whose loss the test reports (no threshold). After each switch, within 5 s: subnet.env has the new MTU; then the old
// datapath's device and routes are gone, leases carry the new BackendType, containers reach each other both ways and
// the change is one log line. An invalid new config changes nothing and says why.
// A third host runs the real flanneld v0.28.9, which follows only by restart (upstream reads the config once): after
// its restart it reaches the tsflanneld hosts on host-gw and back on vxlan. Without the binary that host is left out.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startPing } from '../support/ping-run.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { readSubnetEnv } from '../support/subnet-env.js';
import { CLI_JS, poll, Testbed, type Host } from '../support/testbed.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';

const PREFIX = '/tsflanneld-live-switch';
const NETWORK = '10.9.0.0/16';
/** The bound for a config change to reach every running daemon. */
const SWITCH_WAIT_MS = 5_000;
const skip = testbedUnavailable(['bridge']);
const noUpstream = upstreamUnavailable('v0.28.9');

describe('live backend switch', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tb: Testbed;
  /** The tsflanneld hosts (h1 kernel datapath, h2 userspace datapath). */
  let ts: [Host, Host];
  /** h3 with the real flanneld v0.28.9, or null when the binary is not here. */
  let up: Host | null = null;
  const subnets = new Map<string, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: noUpstream === null ? 3 : 2, prefix: PREFIX });
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'vxlan' } });
    ts = [tb.host(1), tb.host(2)];
    tb.startDaemon(ts[0], ['--vxlan-datapath', 'kernel']);
    tb.startDaemon(ts[1], ['--vxlan-datapath', 'userspace']);
    if (noUpstream === null) {
      up = tb.host(3);
      startUpstream(tb, up, 'v0.28.9');
    }
    for (const h of tb.hosts) subnets.set(h.name, (await tb.waitForSubnetEnv(h, 45_000)).subnet);
    for (const h of tb.hosts) await tb.addContainer(h, 'c1');
  });

  after(async () => {
    await tb?.destroy();
  });

  const out = async (h: Host, argv: readonly string[]): Promise<string> => (await tb.exec(h, argv)).stdout.trim();

  async function pingEveryWay(hosts: readonly Host[]): Promise<void> {
    for (const a of hosts) for (const b of hosts) if (a !== b) await tb.waitForPing(tb.container(a), tb.container(b).ip);
  }

  /** Writes the config and waits (at most 5 s) for both tsflanneld hosts' subnet.env to show `mtu`. */
  async function switchTo(backend: Record<string, unknown>, mtu: number): Promise<number> {
    const t0 = Date.now();
    await tb.putConfig({ Network: NETWORK, Backend: backend });
    for (const h of ts) {
      await poll(`${h.name}: FLANNEL_MTU=${mtu} within ${SWITCH_WAIT_MS} ms of the config change`,
        () => readSubnetEnv(h.subnetFile)?.mtu === mtu, Math.max(0, SWITCH_WAIT_MS - (Date.now() - t0)), 50);
    }
    return Date.now() - t0;
  }

  async function switchedTo(type: string): Promise<void> {
    for (const h of ts) assert.equal(readSubnetEnv(h.subnetFile)?.subnet, subnets.get(h.name), `${h.name} kept its subnet`);
    await poll(`tsflanneld leases of type ${type}`, async () => {
      const values = [...(await tb.leases()).values()].map((v) => JSON.parse(v) as { PublicIP: string; BackendType: string });
      return ts.every((h) => values.some((v) => v.PublicIP === h.ip && v.BackendType === type));
    }, 15_000);
  }

  /** The real node follows by restart, as upstream needs; it keeps its subnet (found again by PublicIP). */
  async function restartUpstream(t: TestContext): Promise<void> {
    if (up === null) return;
    assert.equal(await tb.stopDaemon(up), 0);
    startUpstream(tb, up, 'v0.28.9');
    assert.equal((await tb.waitForSubnetEnv(up, 45_000)).subnet, subnets.get(up.name), 'upstream kept its subnet');
    t.diagnostic(`after its restart upstream ${up.name} has: ${(await out(up, ['ip', '-br', 'link'])).split('\n')
      .filter((l) => l.startsWith('flannel')).map((l) => l.split(/\s+/)[0]).join(', ') || 'no flannel device'}`);
  }

  it('vxlan → host-gw with a ping running: MTU 1500 within 5 s, nothing of vxlan left, every host reached', (t) => tb.explainFailure(async () => {
    await pingEveryWay(tb.hosts);
    const ping = startPing(tb.container(ts[0]).netns, tb.container(ts[1]).ip);
    await poll('the ping running', () => ping.lastAnswered() > 5, 10_000);
    let tookMs: number;
    try {
      tookMs = await switchTo({ Type: 'host-gw' }, 1500);
      await switchedTo('host-gw');
      for (const h of ts) {
        await poll(`${h.name} without any flannel device`, async () => !/flannel/.test(await out(h, ['ip', 'link', 'show'])), SWITCH_WAIT_MS);
        assert.doesNotMatch(await out(h, ['ip', 'route']), /flannel/);
        assert.doesNotMatch(await out(h, ['ip', 'route', 'show', 'proto', '84']), /dev flannel/);
        const peer = ts.find((o) => o !== h)!;
        await poll(`${h.name}'s host-gw route`, async () => (await out(h, ['ip', 'route', 'show', 'proto', '84'])).includes(`via ${peer.ip}`), 15_000);
        assert.equal(tb.daemonLog(h).split('\n').filter((l) => l.includes('backend switched from vxlan to host-gw')).length, 1);
      }
      await pingEveryWay(ts);
      const mark = ping.lastAnswered();
      await poll('the ping answered again', () => ping.lastAnswered() > mark + 5, 10_000);
    } finally {
      const report = await ping.stop();
      t.diagnostic(`ping ${ts[0].name} → ${ts[1].name} (kernel → userspace) across vxlan → host-gw: ${report.summary}`);
    }
    t.diagnostic(`both tsflanneld hosts wrote FLANNEL_MTU=1500 ${tookMs} ms after the config change`);
    await restartUpstream(t);
    await pingEveryWay(tb.hosts);
    if (up !== null) {
      // host-gw beside the real v0.28.9: its routes to us and ours to it, both plain routes via the PublicIP.
      const upNet = subnets.get(up.name)!.replace(/\.1\/(\d+)$/, '.0/$1');
      assert.match(await out(ts[0], ['ip', 'route', 'show', upNet]), new RegExp(`via ${up.ip.replaceAll('.', '\\.')} dev eth0`));
      const tsNet = subnets.get(ts[0].name)!.replace(/\.1\/(\d+)$/, '.0/$1');
      assert.match(await out(up, ['ip', 'route', 'show', tsNet]), new RegExp(`via ${ts[0].ip.replaceAll('.', '\\.')} dev eth0`));
      for (const [from, to] of [[ts[1], up], [up, ts[0]]] as const) {
        const r = await tb.tcpTransfer(tb.container(from), tb.container(to), 2 << 20);
        assert.equal(r.bytesReceived, r.bytesSent, `${from.name} → ${to.name} over host-gw`);
        assert.equal(r.receivedSha256, r.sentSha256, `${from.name} → ${to.name} over host-gw`);
      }
      // Upstream restarted into host-gw keeps vxlan's flannel.1: `tsflanneld doctor` on that host (as an operator
      // about to replace it would run) names it and the command that removes it.
      const doctor = await tb.exec(up, [process.execPath, CLI_JS, 'doctor', '--json', ...tb.daemonArgs(up)]);
      const checks = JSON.parse(doctor.stdout) as Array<{ id: string; status: string; detail: string; fix?: string }>;
      const leftovers = checks.find((c) => c.id === 'leftovers');
      assert.equal(leftovers?.status, 'warn', doctor.stdout);
      assert.match(leftovers?.detail ?? '', /device flannel\.1 \(vxlan\)/);
      assert.match(leftovers?.fix ?? '', /^ip link delete flannel\.1 /);
    }
  }));

  it('an invalid new config changes nothing and says why', () => tb.explainFailure(async () => {
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'vxlan', VNI: 'one' } });
    await poll('the refusal in both logs', () => ts.every((h) => /VNI/.test(tb.daemonLog(h).split('\n')
      .filter((l) => l.includes('"level":50')).join('\n'))), 15_000);
    for (const h of ts) assert.equal(readSubnetEnv(h.subnetFile)?.mtu, 1500);
    await pingEveryWay(ts);
  }));

  it('host-gw → vxlan with a ping running: MTU 1450 within 5 s, no host-gw route left, each host on its datapath', (t) => tb.explainFailure(async () => {
    const ping = startPing(tb.container(ts[0]).netns, tb.container(ts[1]).ip);
    await poll('the ping running', () => ping.lastAnswered() > 5, 10_000);
    let tookMs: number;
    try {
      tookMs = await switchTo({ Type: 'vxlan' }, 1450);
      await switchedTo('vxlan');
      for (const h of ts) {
        await poll(`${h.name} without host-gw routes`, async () => !/ via \d/.test(await out(h, ['ip', 'route', 'show', 'proto', '84'])), SWITCH_WAIT_MS);
        assert.match(await out(h, ['ip', '-d', 'link', 'show', 'flannel.1']), h === ts[0] ? /vxlan id 1/ : /\btun\b/);
      }
      await pingEveryWay(ts);
      const mark = ping.lastAnswered();
      await poll('the ping answered again', () => ping.lastAnswered() > mark + 5, 10_000);
    } finally {
      const report = await ping.stop();
      t.diagnostic(`ping ${ts[0].name} → ${ts[1].name} (kernel → userspace) across host-gw → vxlan: ${report.summary}`);
    }
    t.diagnostic(`both tsflanneld hosts wrote FLANNEL_MTU=1450 ${tookMs} ms after the config change`);
    await restartUpstream(t);
    await pingEveryWay(tb.hosts);
  }));
});
