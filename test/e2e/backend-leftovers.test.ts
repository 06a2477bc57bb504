// Issue 21 item 6: a restart into another backend must not keep the old one's state. host-gw → vxlan (userspace):
// the `<peer subnet> via <PublicIP> proto 84` routes would bypass VXLAN; vxlan → host-gw: the persistent TUN
// flannel.1 and its `<Network> dev flannel.1` route stay behind. At start the daemon removes every flannel device
// and proto-84 route in the Network that the current backend does not claim. Two hosts, restarted in turn.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { Testbed, type Host } from '../support/testbed.js';

const PREFIX = '/tsflanneld-leftovers';
const NETWORK = '10.8.0.0/16';
const skip = testbedUnavailable(['bridge']);

describe('restart into another backend: the old one leaves nothing behind', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
  });

  after(async () => {
    await tb?.destroy();
  });

  async function runAll(config: unknown, extraArgs: readonly string[] = []): Promise<void> {
    for (const h of tb.hosts) if (h.daemon) await tb.stopDaemon(h);
    await tb.putConfig(config);
    for (const h of tb.hosts) tb.startDaemon(h, extraArgs);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
  }

  const out = async (h: Host, argv: readonly string[]): Promise<string> => (await tb.exec(h, argv)).stdout.trim();

  async function pingBothWays(): Promise<void> {
    const [h1, h2] = tb.hosts as [Host, Host];
    await tb.waitForPing(tb.container(h1), tb.container(h2).ip);
    await tb.waitForPing(tb.container(h2), tb.container(h1).ip);
  }

  it('host-gw, then vxlan: no host-gw route is left, traffic goes through flannel.1', () => tb.explainFailure(async () => {
    await runAll({ Network: NETWORK, Backend: { Type: 'host-gw' } });
    for (const h of tb.hosts) await tb.addContainer(h, 'c1');
    await pingBothWays();
    for (const h of tb.hosts) assert.match(await out(h, ['ip', 'route', 'show', 'proto', '84']), / via /, `${h.name} host-gw route`);

    await runAll({ Network: NETWORK, Backend: { Type: 'vxlan' } }, ['--vxlan-datapath', 'userspace']);
    for (const h of tb.hosts) {
      assert.doesNotMatch(await out(h, ['ip', 'route', 'show', 'proto', '84']), / via /, `${h.name} keeps a host-gw route`);
      assert.match(tb.daemonLog(h), /removed a route left by another backend/);
    }
    await pingBothWays();
  }));

  it('vxlan (userspace), then host-gw: no flannel.1 and no route through it', () => tb.explainFailure(async () => {
    for (const h of tb.hosts) assert.match(await out(h, ['ip', '-d', 'link', 'show']), /flannel\.1/, `${h.name} has its TUN`);
    await runAll({ Network: NETWORK, Backend: { Type: 'host-gw' } });
    for (const h of tb.hosts) {
      assert.doesNotMatch(await out(h, ['ip', 'link', 'show']), /flannel/, `${h.name} keeps a flannel device`);
      assert.doesNotMatch(await out(h, ['ip', 'route']), /flannel/, `${h.name} keeps a route through flannel.1`);
      assert.match(tb.daemonLog(h), /removed a device left by another backend/);
    }
    await pingBothWays();
  }));
});
