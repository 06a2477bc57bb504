// Dual-stack host-gw beside the real flanneld v0.28.9 (issue 17): h1 and h3 run tsflanneld, h2 the real v0.28.9,
// all with EnableIPv6 on one etcd. Each reads the others' dual-stack leases and routes both families; containers
// ping each other both ways in both families. The binary comes from /work/shared/upstream/build.sh (or
// TSFL_FLANNELD_V0289); without it the suite is skipped.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { spawnTracked } from '../support/proc.js';
import { inNetns, mustExec } from '../support/netns.js';
import { poll, Testbed, CONTAINER_BRIDGE, UNDERLAY_IFACE, type Container, type Host } from '../support/testbed.js';
import { parseSubnetEnv } from '../../src/subnet/subnet-env.js';

const V0289 = process.env.TSFL_FLANNELD_V0289 ?? path.join(os.homedir(), '.cache', 'tsflanneld-upstream', 'flanneld-v0.28.9');
const PREFIX = '/coreos.com/network';
const CONFIG = { Network: '10.31.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:31::/56', Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable()
  ?? (fs.existsSync(V0289) ? null : `needs flanneld v0.28.9 at ${V0289} (build it with bash /work/shared/upstream/build.sh)`);

const underlay6 = (h: Host): string => `2001:db8::${10 + h.index}`;

describe('dual-stack host-gw: tsflanneld beside flanneld v0.28.9', { skip: skip ?? false, timeout: 240_000 }, () => {
  let tb: Testbed;
  const v6Of = new Map<Container, string>();

  function startUpstream(host: Host): void {
    const out = fs.openSync(host.logFile, 'a');
    fs.writeSync(out, `--- flanneld v0.28.9 ${new Date().toISOString()}\n`);
    host.daemon = spawnTracked('ip', ['netns', 'exec', host.netns, V0289, `-etcd-endpoints=${tb.etcdEndpoint}`,
      `-etcd-prefix=${PREFIX}`, `-iface=${UNDERLAY_IFACE}`, `-public-ip=${host.ip}`, `-public-ipv6=${underlay6(host)}`,
      `-subnet-file=${host.subnetFile}`], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    host.daemonStartedAt = Date.now();
  }

  /** A container with an address in each family, as a dual-stack CNI would set it up from subnet.env. */
  async function dualContainer(h: Host): Promise<Container> {
    const c = await tb.addContainer(h, 'c1');
    const env = parseSubnetEnv(fs.readFileSync(h.subnetFile, 'utf8'));
    const bridge6 = env.FLANNEL_IPV6_SUBNET;
    assert.ok(bridge6, `${h.name}: no FLANNEL_IPV6_SUBNET in ${JSON.stringify(env)}`);
    const [addr, len] = bridge6.split('/') as [string, string];
    const mine = addr.replace(/::1$/, '::2');
    await mustExec(['ip', '-n', h.netns, 'addr', 'add', bridge6, 'dev', CONTAINER_BRIDGE, 'nodad']);
    await mustExec(['ip', '-n', c.netns, 'addr', 'add', `${mine}/${len}`, 'dev', 'eth0', 'nodad']);
    await mustExec(['ip', '-n', c.netns, '-6', 'route', 'add', 'default', 'via', addr]);
    v6Of.set(c, mine);
    return c;
  }

  before(async () => {
    tb = await Testbed.create({ hosts: 3, prefix: PREFIX });
    for (const h of tb.hosts) {
      await mustExec(['ip', '-n', h.netns, 'addr', 'add', `${underlay6(h)}/64`, 'dev', UNDERLAY_IFACE, 'nodad']);
      await mustExec(inNetns(h.netns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']));
    }
    await tb.putConfig(CONFIG);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('every pair of containers pings both ways in both families', () => tb.explainFailure(async () => {
    const [h1, h2, h3] = tb.hosts as [Host, Host, Host];
    tb.startDaemon(h1);
    startUpstream(h2);
    tb.startDaemon(h3);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h, 45_000);
    // The real v0.28.9 wrote a dual-stack key like ours.
    const keys = [...(await tb.leases()).keys()];
    assert.equal(keys.length, 3);
    for (const k of keys) assert.match(k, /^\/coreos\.com\/network\/subnets\/10\.31\.\d+\.0-24&fd00:31:0:[0-9a-f]+::-64$/);
    const cs = [];
    for (const h of tb.hosts) cs.push(await dualContainer(h));
    for (const a of cs) {
      for (const b of cs) {
        if (a === b) continue;
        await tb.waitForPing(a, b.ip, 45_000);
        await poll(`ping -6 ${a.netns} → ${v6Of.get(b)}`, () => tb.ping(a, v6Of.get(b)!), 45_000, 200);
      }
    }
  }, async () => {
    const parts: string[] = [await tb.routesReport()];
    for (const h of tb.hosts) parts.push(`===== ${h.name} -6 routes =====\n${await mustExec(['ip', '-n', h.netns, '-6', 'route', 'show'])}`);
    return parts.join('\n');
  }));
});
