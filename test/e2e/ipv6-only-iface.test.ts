// Choosing the external interface in an IPv6-only network (issue 17): the host has no IPv4 default route and the
// daemon gets no --iface, only --iface-regex matching its IPv6 underlay address, as upstream's IPv6 stack matches,
// or --iface-can-reach of an IPv6 address on the underlay's prefix.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, UNDERLAY_IFACE, type Host } from '../support/testbed.js';
import { readSubnetEnvVars } from '../support/subnet-env.js';

const PREFIX = '/usr/local/bin/network';
const skip = testbedUnavailable();

/**
 * One IPv6-only host (2001:db8::21 on its underlay) whose daemon chooses its interface with `choice` instead of
 * --iface; `extra` adds an address on a second interface of the host first, which is then the one expected.
 */
function ipv6OnlyIfaceCase(title: string, choice: readonly string[], extra?: { dev: string; address: string }): void {
  describe(title, { skip: skip ?? false, timeout: 120_000 }, () => {
    let tb: Testbed;

    before(async () => {
      tb = await Testbed.create({ hosts: 1, prefix: PREFIX });
      const h = tb.hosts[0] as Host;
      await mustExec(['ip', '-n', h.netns, 'addr', 'add', '2001:db8::21/64', 'dev', UNDERLAY_IFACE, 'nodad']);
      if (extra) {
        // A veth pair inside the host (no dummy module everywhere); both ends up so that it has a carrier.
        await mustExec(['ip', '-n', h.netns, 'link', 'add', extra.dev, 'type', 'veth', 'peer', 'name', `${extra.dev}p`]);
        await mustExec(['ip', '-n', h.netns, 'addr', 'add', `${extra.address}/128`, 'dev', extra.dev, 'nodad']);
        for (const dev of [extra.dev, `${extra.dev}p`]) await mustExec(['ip', '-n', h.netns, 'link', 'set', dev, 'up']);
      }
      await tb.putConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:61::/56', Backend: { Type: 'host-gw' } });
    });

    after(async () => {
      await tb?.destroy();
    });

    it('publishes the interface\'s IPv6 address as PublicIPv6 and writes subnet.env', () => tb.explainFailure(async () => {
      const h = tb.hosts[0] as Host;
      const base = tb.daemonArgs(h);
      const i = base.indexOf('--iface');
      base.splice(i, 2, ...choice);
      // Upstream looks for the holder of --public-ipv6 only when --public-ip is not given either.
      const pub = base.indexOf('--public-ip');
      if (extra && pub >= 0) base.splice(pub, 2);
      tb.daemonArgs = () => base;
      tb.startDaemon(h);
      await poll('IPv6-only subnet.env', () => {
        const d = h.daemon;
        if (d !== null && (d.exitCode !== null || d.signalCode !== null)) throw new Error(`daemon exited:\n${tb.daemonLog(h).slice(-3000)}`);
        return readSubnetEnvVars(h.subnetFile).FLANNEL_IPV6_SUBNET !== undefined;
      }, 30_000);
      const values = [...(await tb.leases()).values()];
      const address = extra?.address ?? '2001:db8::21';
      assert.deepEqual(values, [`{"PublicIP":"0.0.0.0","PublicIPv6":"${address}","BackendType":"host-gw"}`]);
      const chosen = tb.daemonLog(h).split('\n').find((l) => l.includes('"msg":"using external interface"')) ?? '';
      assert.match(chosen, new RegExp(`"iface":"${extra?.dev ?? UNDERLAY_IFACE}"`), chosen);
    }));
  });
}

ipv6OnlyIfaceCase('IPv6-only: the interface chosen by --iface-regex on its IPv6 address', ['--iface-regex', '^2001:db8::2[0-9]$']);
// Upstream's --iface-can-reach takes an IPv6 address too: the interface is the one `ip -6 route get` names.
ipv6OnlyIfaceCase('IPv6-only: the interface chosen by --iface-can-reach of an IPv6 address', ['--iface-can-reach', '2001:db8::99']);
// Upstream, given no interface option and no --public-ip, takes the interface holding --public-ipv6.
ipv6OnlyIfaceCase('IPv6-only: the interface that holds --public-ipv6', ['--public-ipv6', '2001:db8:5::7'],
  { dev: 'tsfpub6', address: '2001:db8:5::7' });
