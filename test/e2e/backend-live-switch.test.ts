// Issue 21 item 5: running daemons follow a Backend change in etcd without a restart and keep their subnets:
// vxlan (both datapaths) → host-gw → vxlan. After each switch: the old datapath's device and routes are gone,
// leases carry the new BackendType, subnet.env has the new MTU, containers reach each other both ways, and the
// change is one log line. An invalid new config changes nothing and says why.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../harness/prerequisites.js';
import { readSubnetEnv } from '../harness/subnet-env.js';
import { poll, Testbed, type Host } from '../harness/testbed.js';

const PREFIX = '/tsflanneld-live-switch';
const NETWORK = '10.9.0.0/16';
const skip = testbedUnavailable(['bridge']);

describe('live backend switch', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  const subnets = new Map<string, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'vxlan' } });
    tb.startDaemon(tb.host(1), ['--vxlan-datapath', 'kernel']);
    tb.startDaemon(tb.host(2), ['--vxlan-datapath', 'userspace']);
    for (const h of tb.hosts) subnets.set(h.name, (await tb.waitForSubnetEnv(h)).subnet);
    for (const h of tb.hosts) await tb.addContainer(h, 'c1');
  });

  after(async () => {
    await tb?.destroy();
  });

  const out = async (h: Host, argv: readonly string[]): Promise<string> => (await tb.exec(h, argv)).stdout.trim();

  async function pingBothWays(): Promise<void> {
    const [h1, h2] = tb.hosts as [Host, Host];
    await tb.waitForPing(tb.container(h1), tb.container(h2).ip);
    await tb.waitForPing(tb.container(h2), tb.container(h1).ip);
  }

  async function switchedTo(type: string, mtu: number): Promise<void> {
    for (const h of tb.hosts) {
      await poll(`${h.name} on ${type} with FLANNEL_MTU=${mtu}`, () => readSubnetEnv(h.subnetFile)?.mtu === mtu, 15_000);
      assert.equal(readSubnetEnv(h.subnetFile)?.subnet, subnets.get(h.name), `${h.name} kept its subnet`);
    }
    await poll(`leases of type ${type}`, async () => {
      const values = [...(await tb.leases()).values()].map((v) => JSON.parse(v) as { BackendType: string });
      return values.length === 2 && values.every((v) => v.BackendType === type);
    }, 15_000);
  }

  it('vxlan → host-gw: no flannel.1 left, host-gw routes, MTU 1500, traffic both ways', () => tb.explainFailure(async () => {
    await pingBothWays();
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'host-gw' } });
    await switchedTo('host-gw', 1500);
    for (const h of tb.hosts) {
      await poll(`${h.name} without flannel.1`, async () => !(await out(h, ['ip', 'link', 'show'])).includes('flannel'), 15_000);
      assert.doesNotMatch(await out(h, ['ip', 'route']), /flannel/);
      const peer = tb.hosts.find((o) => o !== h)!;
      await poll(`${h.name}'s host-gw route`, async () => (await out(h, ['ip', 'route', 'show', 'proto', '84'])).includes(`via ${peer.ip}`), 15_000);
      assert.equal(tb.daemonLog(h).split('\n').filter((l) => l.includes('backend switched from vxlan to host-gw')).length, 1);
    }
    await pingBothWays();
  }));

  it('an invalid new config changes nothing and says why', () => tb.explainFailure(async () => {
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'vxlan', VNI: 'one' } });
    await poll('the refusal in both logs', () => tb.hosts.every((h) => /VNI/.test(tb.daemonLog(h).split('\n')
      .filter((l) => l.includes('"level":50')).join('\n'))), 15_000);
    for (const h of tb.hosts) assert.equal(readSubnetEnv(h.subnetFile)?.mtu, 1500);
    await pingBothWays();
  }));

  it('host-gw → vxlan: no host-gw route left, each host back on its datapath, MTU 1450', () => tb.explainFailure(async () => {
    await tb.putConfig({ Network: NETWORK, Backend: { Type: 'vxlan' } });
    await switchedTo('vxlan', 1450);
    for (const h of tb.hosts) {
      await poll(`${h.name} without host-gw routes`, async () => !/ via /.test(await out(h, ['ip', 'route', 'show', 'proto', '84'])), 15_000);
      assert.match(await out(h, ['ip', '-d', 'link', 'show', 'flannel.1']), h === tb.host(1) ? /vxlan id 1/ : /\btun\b/);
    }
    await pingBothWays();
  }));
});
