// Issue 20 item 9: two hosts whose --state-dir holds the same VtepMAC (a cloned VM image). Kernel VXLAN between
// them fails silently while both publish it; the daemons must notice a peer lease with our MAC from another
// PublicIP, take a new MAC, keep it in the state dir, put it on the device and republish the lease. Run for both
// datapaths; the hosts are started one after the other so that the later one sees the clash at its first list.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Host } from '../support/testbed.js';

const PREFIX = '/tsflanneld-clone';
const CONFIG = { Network: '10.7.0.0/16', Backend: { Type: 'vxlan' } };
const CLONED_MAC = '02:c1:0e:00:00:01';
const skip = testbedUnavailable(['bridge']);

for (const datapath of ['kernel', 'userspace'] as const) {
  describe(`cloned --state-dir, ${datapath} datapath`, { skip: skip ?? false, timeout: 120_000 }, () => {
    let tb: Testbed;

    before(async () => {
      tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
      await tb.putConfig(CONFIG);
      for (const h of tb.hosts) {
        fs.mkdirSync(h.stateDir, { recursive: true });
        fs.writeFileSync(path.join(h.stateDir, 'flannel.1.vtep-mac'), `${CLONED_MAC}\n`);
      }
      for (const h of tb.hosts) {
        tb.startDaemon(h, ['--vxlan-datapath', datapath]);
        await tb.waitForSubnetEnv(h);
      }
      for (const h of tb.hosts) await tb.addContainer(h, 'c1');
    });

    after(async () => {
      await tb?.destroy();
    });

    async function macsByHost(): Promise<Map<string, string>> {
      const out = new Map<string, string>();
      for (const value of (await tb.leases()).values()) {
        const v = JSON.parse(value) as { PublicIP: string; BackendData: { VtepMAC: string } };
        out.set(v.PublicIP, v.BackendData.VtepMAC);
      }
      return out;
    }

    const keptMac = (h: Host): string => fs.readFileSync(path.join(h.stateDir, 'flannel.1.vtep-mac'), 'utf8').trim();

    it('the leases end up with distinct VtepMACs, each kept in its state dir, and containers reach each other',
      () => tb.explainFailure(async () => {
        const [h1, h2] = tb.hosts as [Host, Host];
        // Both hosts may see the clash and take new MACs (neither knows whether the other will): wait until each
        // has published the MAC it keeps.
        const macs = await poll('distinct VtepMACs in the leases, each the one its host keeps', async () => {
          const m = await macsByHost();
          const settled = tb.hosts.every((h) => keptMac(h) === m.get(h.ip));
          return m.size === 2 && m.get(h1.ip) !== m.get(h2.ip) && settled ? m : null;
        }, 30_000);
        for (const h of tb.hosts) {
          assert.equal(keptMac(h), macs.get(h.ip), `${h.name}'s state file holds its published MAC`);
          const warnings = tb.daemonLog(h).split('\n').filter((l) => l.includes('publishes our VtepMAC'));
          assert.ok(warnings.length <= 1, `${h.name} warned ${warnings.length} times`);
        }
        assert.ok(tb.hosts.some((h) => tb.daemonLog(h).includes('publishes our VtepMAC')), 'someone said why');
        if (datapath === 'kernel') {
          for (const h of tb.hosts) {
            const dev = await tb.exec(h, ['ip', 'link', 'show', 'flannel.1']);
            assert.match(dev.stdout, new RegExp(`link/ether ${macs.get(h.ip)!} `), `${h.name}'s device MAC`);
          }
        }
        await tb.waitForPing(tb.container(h1), tb.container(h2).ip);
        await tb.waitForPing(tb.container(h2), tb.container(h1).ip);
      }));
  });
}
