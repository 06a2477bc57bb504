// Issue 20 items 2 and 3, with real daemons (host-gw) in namespaces. Leases that would divert traffic (a /25 inside
// a peer's /24, another length, a non-unicast or our own PublicIP) program nothing on any host and are named once;
// a good lease rewritten into a bad one loses its route. After another writer takes over a host's lease key, the
// host moves to a new subnet and every leased subnet, the taken one included, is routed on every host.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { poll, Testbed, type Host } from '../support/testbed.js';
import { execFileSync } from 'node:child_process';
import { readSubnetEnv } from '../support/subnet-env.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable();
const value = (ip: string): string => `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"host-gw"}`;
/** `10.0.5.0-24` → `10.0.5.0/24`. */
const cidrOf = (key: string): string => key.slice(key.lastIndexOf('/') + 1).replace('-', '/');

describe('leases that would divert traffic, and a lease takeover (host-gw)', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) tb.startDaemon(h);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
  });
  after(async () => {
    await tb?.destroy();
  });

  const ownSubnet = (h: Host): string => readSubnetEnv(h.subnetFile)?.subnet ?? '';
  const ownKey = (h: Host): string => `${tb.prefix}/subnets/${ownSubnet(h).replace(/\.\d+\/(\d+)$/, '.0-$1')}`;
  const neigh = (h: Host): string => execFileSync('ip', ['-n', h.netns, 'neigh', 'show'], { encoding: 'utf8' });

  it('programs none of the hijacking leases on any host, and names each once', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const sub = `${tb.prefix}/subnets`;
    const victim = ownKey(h2);
    const half = cidrOf(victim).replace('/24', '/25');
    const bad: Array<[string, string]> = [
      [`${sub}/${half.replace('/', '-')}`, value('192.0.2.99')],
      [`${sub}/10.0.50.0-23`, value('192.0.2.98')],
      [`${sub}/10.0.53.0-24`, value('0.0.0.0')],
      [`${sub}/10.0.54.0-24`, value('127.0.0.5')],
      [`${sub}/10.0.55.0-24`, value('224.0.0.5')],
      [`${sub}/10.0.56.0-24`, value('255.255.255.255')],
    ];
    // Our own PublicIP under a foreign key: bad for h1 only (for h2 it is one more lease of h1).
    const selfKey = `${sub}/10.0.57.0-24`;
    // A good lease that turns bad after it was programmed must lose its route.
    const turned = `${sub}/10.0.58.0-24`;
    await tb.etcdctl(['put', turned, value('192.0.2.97')]);
    for (const h of tb.hosts) {
      await poll(`${h.name} routes ${turned}`, async () => (await tb.routes(h)).some((r) => r.startsWith('10.0.58.0/24 via 192.0.2.97')));
    }
    for (const [k, v] of bad) await tb.etcdctl(['put', k, v]);
    await tb.etcdctl(['put', selfKey, value(h1.ip)]);
    await tb.etcdctl(['put', turned, value('127.0.0.1')]);
    // Written twice more: still one warning per key.
    for (const [k, v] of bad) await tb.etcdctl(['put', k, v]);
    const good = `${sub}/10.0.60.0-24`;
    await tb.etcdctl(['put', good, value('192.0.2.90')]);
    for (const h of tb.hosts) {
      await poll(`${h.name} routes the good lease`, async () => (await tb.routes(h)).some((r) => r.startsWith('10.0.60.0/24 via 192.0.2.90')));
      await poll(`${h.name} drops the route of the lease turned bad`, async () => !(await tb.routes(h)).some((r) => r.startsWith('10.0.58.0/24')));
    }
    await sleep(2000);
    for (const h of tb.hosts) {
      const routes = await tb.routes(h);
      const forbidden = [...bad.map(([k]) => cidrOf(k)), ...(h === h1 ? [cidrOf(selfKey)] : [])];
      for (const r of routes) {
        for (const c of forbidden) assert.ok(!r.startsWith(`${c} `), `${h.name} programmed a bad lease: ${r}`);
        assert.doesNotMatch(r, /via (0\.0\.0\.0|127\.|224\.|255\.255\.255\.255)|via 192\.0\.2\.9[89]/, `${h.name}: ${r}`);
      }
      assert.doesNotMatch(neigh(h), /^(0\.0\.0\.0|127\.0\.0\.5|224\.0\.0\.5|255\.255\.255\.255|192\.0\.2\.9[89]) /m, `${h.name} neighbours`);
      assert.equal(h.daemon?.exitCode, null, `${h.name}'s daemon exited`);
      assert.deepEqual(stackTraces(tb.daemonLog(h)), [], `${h.name} logged a stack trace`);
      const records = logRecords(tb.daemonLog(h));
      for (const [k] of bad) {
        const n = records.filter((r) => r.key === k).length;
        assert.equal(n, 1, `${h.name} named ${k} ${n} times`);
      }
    }
    // The victim's own /24 is still routed on h1, to h2.
    assert.ok((await tb.routes(h1)).some((r) => r.startsWith(`${cidrOf(victim)} via ${h2.ip}`)), 'h1 lost its route to h2');
    const overlapWarning = logRecords(tb.daemonLog(h1)).find((r) => r.key === bad[0]![0]);
    assert.match(String(overlapWarning?.msg), new RegExp(`overlaps ${cidrOf(victim).replace(/\./g, '\\.')} of ${h2.ip}`));
    for (const k of [...bad.map(([key]) => key), selfKey, turned, good]) await tb.etcdctl(['del', k]);
  }));

  it('routes the subnet taken over from a host, and every other lease, on every host', () => tb.explainFailure(async () => {
    const [h1, h2] = tb.hosts as [Host, Host];
    const taken = ownKey(h1);
    const before = ownSubnet(h1);
    const intruder = '192.0.2.96';
    await tb.etcdctl(['put', taken, value(intruder)]);
    await poll('h1 moves to a new subnet', () => ownSubnet(h1) !== before && ownSubnet(h1) !== '');
    const leases = await tb.leases();
    const expected = (h: Host): Array<[string, string]> => [...leases].flatMap(([k, v]) => {
      const ip = (JSON.parse(v) as { PublicIP: string }).PublicIP;
      return ip === h.ip ? [] : [[cidrOf(k), ip] as [string, string]];
    });
    for (const h of tb.hosts) {
      await poll(`${h.name} routes every leased subnet`, async () => {
        const routes = await tb.routes(h);
        return expected(h).every(([c, ip]) => routes.some((r) => r.startsWith(`${c} via ${ip}`)));
      }, 5000);
    }
    assert.ok((await tb.routes(h1)).some((r) => r.startsWith(`${cidrOf(taken)} via ${intruder}`)));
    const err = logRecords(tb.daemonLog(h1)).find((r) => /re-acquired a DIFFERENT subnet/.test(String(r.msg)));
    assert.equal(err?.level, 50, 'the move is logged as an error');
    assert.equal(h2.daemon?.exitCode, null);
    await tb.etcdctl(['del', taken]);
  }));
});
