// The tunnel-GSO send path of the IPv6 half (w-v6tgso; issue 22 item 1, issue 17 item 4 offloads), in an
// IPv6-only cluster of two userspace nodes over the 2001:db8::/64 underlay: h1 demands the path
// (--vxlan-send-path tunnel-gso), h2 is forced onto the segment path (--vxlan-send-path segment). TCP both ways with
// every byte hashed; h1's counters show whole TSO6 frames written to its TAP gso6.1, h2's the userspace
// segmentation; h1 lets the TAP's frames through ip6tables' FORWARD. The TAP deleted by hand: h1's loops go on on the
// segment path. The FORWARD rule is kept (once) across a reload and removed at the final stop. Userspace ↔ kernel
// vxlan and ↔ the real v0.28.9 on this path (auto selects it on this kernel): test/e2e/ipv6-userspace.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addIpv6Underlay, ipv6RoutesReport, waitForIpv6OnlyEnv } from '../support/ipv6-lab.js';
import { countersWhen, tcpBothWays } from '../support/daemon-checks.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';

const skip = testbedUnavailable();
const BYTES = 8 << 20;

const forwardRules = async (tb: Testbed, h: Host): Promise<string> => (await tb.exec(h, ['ip6tables', '-S', 'FORWARD'])).stdout;
const hasLink = async (h: Host, dev: string): Promise<boolean> =>
  (JSON.parse(await mustExec(['ip', '-n', h.netns, '-j', 'link', 'show'])) as Array<{ ifname: string }>)
    .some((l) => l.ifname === dev);

describe('IPv6 tunnel-GSO send path beside the forced segment path', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: '/coreos.com/network' });
    await addIpv6Underlay(tb);
    await tb.putConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:62::/56', Backend: { Type: 'vxlan' } });
    const [h1, h2] = tb.hosts as [Host, Host];
    tb.startDaemon(h1, ['--vxlan-datapath', 'userspace', '--vxlan-send-path', 'tunnel-gso']);
    tb.startDaemon(h2, ['--vxlan-datapath', 'userspace', '--vxlan-send-path', 'segment']);
    for (const h of tb.hosts) {
      await waitForIpv6OnlyEnv(tb, h, 30_000);
      await tb.addContainer6(h, 'c1');
    }
  });

  after(async () => {
    await tb?.destroy();
  });

  it('carries TCP both ways: h1 writes whole TSO6 frames to gso6.1, h2 segments', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    assert.match(tb.daemonLog(h1), /datapath send path: tunnel-gso \(the kernel segments whole VXLAN frames written to TAP gso6\.1\)/);
    assert.match(tb.daemonLog(h2), /datapath send path: segment \(as configured\)/);
    assert.ok(await hasLink(h1, 'gso6.1'), 'h1 has its TAP');
    assert.ok(!(await hasLink(h2, 'gso6.1')), 'h2 made no TAP');
    assert.match(await forwardRules(tb, h1), /-A FORWARD -i gso6\.1 .*-j ACCEPT/);
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await poll('ping -6 a → b', () => tb.ping(a, b.ip), 30_000, 100);
    await poll('ping -6 b → a', () => tb.ping(b, a.ip), 30_000, 100);
    await tcpBothWays(tb, a, b, 'tunnel-gso ↔ segment', BYTES);
    const c1 = await countersWhen(tb, h1, (x) => (x.tx_bytes ?? 0) >= BYTES);
    assert.equal(c1.send_path_tunnel_gso, 1, JSON.stringify(c1));
    assert.ok((c1.tx_tunnel_frames ?? 0) > 0, JSON.stringify(c1));
    assert.equal(c1.tx_tap_write_failed ?? 0, 0, JSON.stringify(c1));
    const c2 = await countersWhen(tb, h2, (x) => (x.tx_bytes ?? 0) >= BYTES);
    assert.equal(c2.send_path_tunnel_gso, 0, JSON.stringify(c2));
    assert.ok((c2.tx_tso_frames ?? 0) > 0, JSON.stringify(c2));
    assert.equal(c2.tx_tunnel_frames ?? 0, 0, JSON.stringify(c2));
  }, () => ipv6RoutesReport(tb)));

  it('goes on on the segment path when gso6.1 is deleted under the loops', () => tb.explainFailure(async () => {
    const [h1] = tb.hosts as [Host];
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await mustExec(['ip', '-n', h1.netns, 'link', 'del', 'gso6.1']);
    // The next send fails on the deleted TAP; the loop's restart takes the segment path.
    await poll('h1 gives up gso6.1', async () => {
      await tb.ping(a, b.ip);
      return tb.daemonLog(h1).includes('datapath send path: segment from now on (TAP gso6.1 was deleted)');
    }, 45_000, 250);
    await tcpBothWays(tb, a, b, 'after the TAP was deleted', BYTES);
    const c1 = await countersWhen(tb, h1, (x) => x.send_path_tunnel_gso === 0 && (x.tx_tso_frames ?? 0) > 0);
    assert.equal(h1.daemon?.exitCode, null, 'the daemon kept running');
    assert.ok((c1.tx_tso_frames ?? 0) > 0, JSON.stringify(c1));
  }, () => ipv6RoutesReport(tb)));

  it('keeps one ip6tables FORWARD rule across a reload and removes it at the final stop', () => tb.explainFailure(async () => {
    const [h1] = tb.hosts as [Host];
    // A fresh daemon on h1 opens gso6.1 and its rule again; then it stops for good.
    await tb.stopDaemon(h1);
    tb.startDaemon(h1, ['--vxlan-datapath', 'userspace', '--vxlan-send-path', 'tunnel-gso']);
    await waitForIpv6OnlyEnv(tb, h1, 30_000);
    await poll('gso6.1 back with its rule', async () => /-i gso6\.1 /.test(await forwardRules(tb, h1)) && hasLink(h1, 'gso6.1'),
      30_000, 250);
    // A reload (re-exec) keeps the rule for the next process, which opens gso6.1 again and takes the rule over.
    const fresh = tb.daemonLog(h1).lastIndexOf('--- start');
    await poll('the fresh h1 running', () => tb.daemonLog(h1).slice(fresh).includes('"msg":"running"'), 30_000, 100);
    const before = tb.daemonLog(h1).split('\n').length;
    process.kill(h1.daemon!.pid!, 'SIGHUP');
    await poll('h1 re-executed on tunnel-gso', () => {
      const lines = tb.daemonLog(h1).split('\n').slice(before);
      return lines.some((l) => l.includes('"msg":"running"')) && lines.some((l) => l.includes('TAP gso6.1)'));
    }, 30_000, 200);
    assert.equal((await forwardRules(tb, h1)).split('\n').filter((l) => l.includes('-i gso6.1 ')).length, 1,
      'one FORWARD rule after the reload');
    const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
    await poll('ping -6 a → b after the reload', () => tb.ping(a, b.ip), 30_000, 100);
    await tb.stopDaemon(h1);
    assert.doesNotMatch(await forwardRules(tb, h1), /gso6\.1/);
    assert.ok(!(await hasLink(h1, 'gso6.1')), 'gso6.1 is gone with the daemon');
  }, () => ipv6RoutesReport(tb)));
});
