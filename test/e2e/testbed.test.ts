// The namespace testbed itself, without any daemon: hosts on the underlay, etcd on h1, containers configured from
// a subnet.env written by hand, traffic helpers, and the guarantee that nothing is left behind — after destroy()
// and after a run that was SIGKILLed (swept by the next run).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { isAlive, listNetns } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { CONTAINER_BRIDGE, Testbed } from '../support/testbed.js';

const skip = testbedUnavailable();

function writeSubnetEnv(file: string, subnet: string, mtu: number): void {
  fs.writeFileSync(file, `FLANNEL_NETWORK=10.0.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=${mtu}\nFLANNEL_IPMASQ=false\n`);
}

describe('namespace testbed', { skip: skip ?? false, timeout: 60_000 }, () => {
  it('builds hosts, etcd and containers from subnet.env, carries traffic, and removes everything', async () => {
    const tb = await Testbed.create({ hosts: 2 });
    let names: string[] = [];
    try {
      const [h1, h2] = tb.hosts as [typeof tb.hosts[0], typeof tb.hosts[0]];
      assert.equal(h1.ip, '192.0.2.11');
      assert.equal(await tb.ping(h1.netns, h2.ip), true, 'hosts reach each other on the underlay');
      assert.equal((await tb.exec(h2, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
      await tb.putConfig({ Network: '10.0.0.0/16' });
      assert.match(await tb.etcdctl(['get', `${tb.prefix}/config`]), /"Network":"10\.0\.0\.0\/16"/);

      writeSubnetEnv(h1.subnetFile, '10.0.7.1/24', 1450);
      const a = await tb.addContainer(h1, 'a', { txChecksumOff: true });
      const b = await tb.addContainer(h1, 'b');
      assert.equal(a.ip, '10.0.7.2');
      assert.equal(b.ip, '10.0.7.3');
      const bridge = await tb.exec(h1, ['ip', '-4', '-j', 'addr', 'show', CONTAINER_BRIDGE]);
      const br = (JSON.parse(bridge.stdout) as { mtu: number; addr_info: { local: string; prefixlen: number }[] }[])[0];
      assert.equal(br?.mtu, 1450);
      assert.deepEqual(br?.addr_info.map((x) => `${x.local}/${x.prefixlen}`), ['10.0.7.1/24']);
      const link = JSON.parse((await tb.exec(a, ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as { mtu: number }[];
      assert.equal(link[0]?.mtu, 1450);
      assert.match((await tb.exec(a, ['ip', 'route', 'show', 'default'])).stdout, /default via 10\.0\.7\.1 dev eth0/);
      assert.match((await tb.exec(a, ['ethtool', '-k', 'eth0'])).stdout, /tx-checksumming: off/);
      assert.equal(await tb.ping(a, b.ip), true);
      // No route to 10.0.0.0/16 elsewhere: only the flannel daemon would add one.
      assert.equal(await tb.ping(a, '10.0.9.2'), false);

      const r = await tb.tcpTransfer(a, b, 1_000_000);
      assert.equal(r.bytesReceived, 1_000_000);
      assert.equal(r.receivedSha256, r.sentSha256);
      names = await listNetns();
      assert.ok(names.includes(a.netns) && names.includes(tb.switchNetns));
    } finally {
      await tb.destroy();
    }
    const left = (await listNetns()).filter((n) => n.startsWith(tb.tag));
    assert.deepEqual(left, []);
    assert.equal(fs.existsSync(tb.dir), false);
  });

  it('sweeps the namespaces and processes of a run that was SIGKILLed, and nothing of a live run', async () => {
    const live = await Testbed.create({ hosts: 1, etcd: false });
    try {
      // A separate process builds a testbed with etcd, prints its tag and kills itself: no cleanup runs.
      const script = `
        const { Testbed } = require(${JSON.stringify(require.resolve('../support/testbed.js'))});
        Testbed.create({ hosts: 1 }).then((tb) => {
          process.stdout.write(JSON.stringify({ tag: tb.tag, etcdPid: tb.etcd.pid }) + '\\n');
          process.kill(process.pid, 'SIGKILL');
        });`;
      const crashed = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      const { tag, etcdPid } = JSON.parse(crashed.stdout.trim()) as { tag: string; etcdPid: number };
      assert.ok((await listNetns()).includes(`${tag}-h1`), 'the crashed run left its namespaces');
      assert.equal(isAlive(etcdPid), true, 'the crashed run left its etcd');

      const next = await Testbed.create({ hosts: 1, etcd: false });
      await next.destroy();
      const names = await listNetns();
      assert.deepEqual(names.filter((n) => n.startsWith(tag)), []);
      assert.equal(isAlive(etcdPid), false, 'etcd of the crashed run still runs');
      assert.ok(names.includes(live.host(1).netns), 'a live run\'s namespace was removed');
    } finally {
      await live.destroy();
    }
  });
});
