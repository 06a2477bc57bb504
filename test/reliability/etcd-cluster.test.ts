// Reliability 2 (issue 7): a three-member etcd cluster whose leader is SIGKILLed while host-gw daemons run and their
// containers ping each other. The daemons move to the remaining members: they keep their leases, stay up, and a
// lease written after the kill is programmed on every host (no lease event is missed across the failover).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdctl, startEtcdCluster, type EtcdMember } from '../support/etcd.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Container, type Host } from '../support/testbed.js';
import { startPingStream } from '../support/ping-stream.js';
import { stackTraces } from '../support/proc-stats.js';

const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable();

interface EndpointStatus {
  readonly Endpoint: string;
  readonly Status: { readonly header: { readonly member_id: number | string }; readonly leader: number | string };
}

describe('etcd cluster leader killed under load (host-gw)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  let members: EtcdMember[] = [];
  let endpoints = '';
  let c1: Container;
  let c2: Container;

  const ctl = (args: readonly string[], eps = endpoints): Promise<string> => etcdctl(eps, args, { netns: tb.host(1).netns });

  before(async () => {
    tb = await Testbed.create({ hosts: 2, etcd: false });
    const h1 = tb.host(1);
    members = await startEtcdCluster(3, { netns: h1.netns, host: h1.ip });
    endpoints = members.map((m) => m.clientUrl).join(',');
    await ctl(['put', `${tb.prefix}/config`, JSON.stringify(CONFIG)]);
    for (const h of tb.hosts) tb.startDaemon(h, ['--etcd-endpoints', endpoints]);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    c1 = await tb.addContainer(tb.host(1), 'c1');
    c2 = await tb.addContainer(tb.host(2), 'c1');
    await tb.waitForPing(c1, c2.ip);
  });

  after(async () => {
    await Promise.all(members.map((m) => m.destroy().catch(() => undefined)));
    await tb?.destroy();
  });

  async function leases(eps: string): Promise<Map<string, string>> {
    const lines = (await ctl(['get', '--prefix', `${tb.prefix}/subnets/`], eps)).split('\n').filter((l) => l !== '');
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) m.set(lines[i] as string, lines[i + 1] as string);
    return m;
  }

  it('fails over to the other members without losing leases or lease events', async () => {
    try {
      const pids = tb.hosts.map((h) => h.daemon?.pid);
      const before = await leases(endpoints);
      assert.equal(before.size, 2);
      const status = JSON.parse(await ctl(['endpoint', 'status', '-w', 'json'])) as EndpointStatus[];
      const leaderEntry = status.find((s) => String(s.Status.header.member_id) === String(s.Status.leader));
      assert.ok(leaderEntry, `no leader in ${JSON.stringify(status)}`);
      const leader = members.find((m) => m.clientUrl === leaderEntry.Endpoint);
      assert.ok(leader, `leader ${leaderEntry.Endpoint} is not one of ours`);
      const rest = members.filter((m) => m !== leader).map((m) => m.clientUrl).join(',');

      const forth = startPingStream(c1.netns, c2.ip, 150);
      await leader.kill();
      // Written through the survivors once they have a new leader: every host must route it.
      const key = `${tb.prefix}/subnets/10.0.220.0-24`;
      await poll('the survivors to accept a write', () => ctl(['put', key, '{"PublicIP":"192.0.2.91","PublicIPv6":null,"BackendType":"host-gw"}'], rest)
        .then(() => true, () => false), 30_000, 500);
      for (const h of tb.hosts) {
        await poll(`${h.name} routes the lease written after the kill`,
          async () => (await tb.routes(h)).some((r) => r.startsWith('10.0.220.0/24 via 192.0.2.91')), 60_000);
      }
      await ctl(['del', key], rest);
      for (const h of tb.hosts) {
        await poll(`${h.name} drops it again`, async () => !(await tb.routes(h)).some((r) => r.startsWith('10.0.220.0/24')), 30_000);
      }
      const r = await forth.done;
      assert.equal(r.received, r.sent, `packets lost: ${r.output}`);
      const afterKill = await leases(rest);
      for (const [k, v] of before) assert.equal(afterKill.get(k), v, `lease ${k} lost or changed`);
      tb.hosts.forEach((h: Host, i) => {
        assert.equal(h.daemon?.pid, pids[i], `${h.name} restarted`);
        assert.equal(h.daemon?.exitCode, null, `${h.name} exited`);
        assert.deepEqual(stackTraces(tb.daemonLog(h)), []);
      });
    } catch (e) {
      if (e instanceof Error) e.message += `\n${await tb.routesReport().catch(() => '')}\n${tb.allLogs().slice(-10_000)}`;
      throw e;
    }
  });
});
