// Issue 17: the cloned --state-dir case of flannel-v6.<VNI>. Two dual-stack hosts on the kernel vxlan datapath whose
// state dirs hold the same IPv6 VtepMAC (a cloned VM image); started one after the other so that the later one sees
// the clash at its first list. Each must end up publishing its own BackendV6Data VtepMAC, kept in its state dir and
// set on its flannel-v6.1, and the containers must reach each other over IPv6. The same on the userspace datapath,
// whose flannel-v6.1 is a TUN (no MAC on the device): there the pings show that the loops answer to the new MAC.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addDualStackContainers, addIpv6Underlay, ipv6RoutesReport, underlay6 } from '../support/ipv6-lab.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';

const PREFIX = '/tsflanneld-clone6';
const CONFIG = { Network: '10.8.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:38::/56', Backend: { Type: 'vxlan' } };
const CLONED_MAC = '02:c1:0e:00:06:01';
const STATE_FILE = 'flannel-v6.1.vtep-mac';
const skip = testbedUnavailable();

for (const datapath of ['kernel', 'userspace'] as const) describe(`cloned --state-dir, flannel-v6.1 (dual stack, ${datapath} datapath)`, { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX, config: CONFIG });
    await addIpv6Underlay(tb);
    for (const h of tb.hosts) {
      fs.mkdirSync(h.stateDir, { recursive: true });
      fs.writeFileSync(path.join(h.stateDir, STATE_FILE), `${CLONED_MAC}\n`);
    }
    for (const h of tb.hosts) {
      tb.startDaemon(h, ['--vxlan-datapath', datapath]);
      await tb.waitForSubnetEnv(h);
    }
    await addDualStackContainers(tb, v6Of);
  });

  after(async () => {
    await tb?.destroy();
  });

  async function v6MacsByHost(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const value of (await tb.leases()).values()) {
      const v = JSON.parse(value) as { PublicIPv6: string; BackendV6Data?: { VtepMAC: string } };
      if (v.BackendV6Data) out.set(v.PublicIPv6, v.BackendV6Data.VtepMAC);
    }
    return out;
  }

  it('the leases end up with distinct IPv6 VtepMACs, each kept and on its device, and IPv6 pings pass',
    () => tb.explainFailure(async () => {
      const [h1, h2] = tb.hosts as [Host, Host];
      // Both hosts may see the clash and take new MACs: wait until each has published the MAC it keeps.
      const kept = (h: Host): string => fs.readFileSync(path.join(h.stateDir, STATE_FILE), 'utf8').trim();
      const macs = await poll('distinct IPv6 VtepMACs in the leases, each the one its host keeps', async () => {
        const m = await v6MacsByHost();
        const settled = tb.hosts.every((h) => kept(h) === m.get(underlay6(h)));
        return m.size === 2 && m.get(underlay6(h1)) !== m.get(underlay6(h2)) && settled ? m : null;
      }, 30_000);
      for (const h of tb.hosts) {
        const mac = macs.get(underlay6(h))!;
        assert.equal(kept(h), mac, `${h.name}'s state file`);
        if (datapath === 'kernel') assert.match(await mustExec(['ip', '-n', h.netns, 'link', 'show', 'flannel-v6.1']), new RegExp(`link/ether ${mac} `),
          `${h.name}'s flannel-v6.1 MAC`);
      }
      assert.ok(tb.hosts.some((h) => tb.daemonLog(h).includes(`publishes our VtepMAC ${CLONED_MAC}`)), 'someone said why');
      const [a, b] = tb.hosts.map((h) => tb.container(h)) as [Container, Container];
      await poll('ping -6 a → b', () => tb.ping(a, v6Of.get(b)!), 30_000, 100);
      await poll('ping -6 b → a', () => tb.ping(b, v6Of.get(a)!), 30_000, 100);
    }, () => ipv6RoutesReport(tb)));
});
