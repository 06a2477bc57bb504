// Reliability 6 (issue 7): random and malformed datagrams at the VXLAN port of a daemon running the userspace
// datapath, at a high rate: the daemon does not crash, counts the drops (flannel_datapath_drops_total), its memory
// does not grow, and real traffic still flows afterwards.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { inNetns, mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { Testbed, type Container, type Host } from '../support/testbed.js';
import { rssMiB, stackTraces } from '../support/proc-stats.js';

const FLOOD_SECONDS = 10;
const METRICS_PORT = 9471;
const FLOOD = path.join(__dirname, '..', 'support', 'agents', 'udp-flood.js');
const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } };
const skip = testbedUnavailable(['ethtool', 'curl']);

async function drops(tb: Testbed, h: Host): Promise<number> {
  const text = await mustExec(inNetns(h.netns, ['curl', '-s', `http://127.0.0.1:${METRICS_PORT}/metrics`]));
  let sum = 0;
  for (const m of text.matchAll(/^flannel_datapath_drops_total\{[^}]*\} (\d+(?:\.\d+)?(?:e\+\d+)?)$/gm)) sum += Number(m[1]);
  return sum;
}

describe('malformed datagrams at the userspace VXLAN datapath', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;
  let unusable: string | null = null;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) tb.startDaemon(h, ['--vxlan-datapath', 'userspace', '--healthz-ip', '127.0.0.1', '--healthz-port', String(METRICS_PORT)]);
    try {
      for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
      c1 = await tb.addContainer(tb.host(1), 'c1', { txChecksumOff: true });
      c2 = await tb.addContainer(tb.host(2), 'c1', { txChecksumOff: true });
      await tb.waitForPing(c1, c2.ip);
    } catch (e) {
      unusable = `the userspace VXLAN datapath does not carry traffic yet: ${(e as Error).message.split('\n')[0]}`;
    }
  });

  after(async () => {
    await tb?.destroy();
  });

  it(`drops ${FLOOD_SECONDS} s of junk on UDP 8472, counts it, keeps its memory and keeps forwarding`, async (t) => {
    if (unusable !== null) {
      t.skip(unusable);
      return;
    }
    const h2 = tb.host(2);
    const pid = h2.daemon?.pid;
    assert.ok(pid !== undefined);
    // A first burst lets the heap reach its working size; the second is the one measured.
    await mustExec(inNetns(tb.host(1).netns, [process.execPath, FLOOD, h2.ip, '8472', '2']), { timeoutMs: 30_000 });
    await sleep(500);
    const dropsBefore = await drops(tb, h2);
    const rssBefore = rssMiB(pid);
    const out = await mustExec(inNetns(tb.host(1).netns, [process.execPath, FLOOD, h2.ip, '8472', String(FLOOD_SECONDS)]),
      { timeoutMs: (FLOOD_SECONDS + 30) * 1000 });
    const { sent } = JSON.parse(out) as { sent: number };
    await sleep(500);
    const rssAfter = rssMiB(pid);
    const dropped = (await drops(tb, h2)) - dropsBefore;
    console.log(`# ${sent} junk datagrams in ${FLOOD_SECONDS} s; ${dropped} counted as drops; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB`);
    assert.equal(h2.daemon?.exitCode, null, 'the daemon crashed');
    assert.ok(dropped > 0, 'no drops were counted');
    assert.ok(rssAfter <= rssBefore * 1.2 + 16, `RSS grew from ${rssBefore.toFixed(1)} to ${rssAfter.toFixed(1)} MiB`);
    assert.deepEqual(stackTraces(tb.daemonLog(h2)), []);
    await tb.waitForPing(c1, c2.ip, 10_000);
    await tb.waitForPing(c2, c1.ip, 10_000);
  });

  it('drops what the TUN hands it for subnets no peer holds, counts it, and keeps forwarding', async (t) => {
    if (unusable !== null) {
      t.skip(unusable);
      return;
    }
    const h1 = tb.host(1);
    const pid = h1.daemon?.pid;
    assert.ok(pid !== undefined);
    const dropsBefore = await drops(tb, h1);
    const rssBefore = rssMiB(pid);
    // From a container, into the flannel network but to a subnet nobody leased: the TUN delivers every one of them.
    const out = await mustExec(inNetns(c1.netns, [process.execPath, FLOOD, '10.0.250.9', '9', '5', 'plain']), { timeoutMs: 60_000 });
    const { sent } = JSON.parse(out) as { sent: number };
    await sleep(500);
    const dropped = (await drops(tb, h1)) - dropsBefore;
    const rssAfter = rssMiB(pid);
    console.log(`# ${sent} datagrams from a container to an unleased subnet in 5 s; ${dropped} counted as drops; RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB`);
    assert.equal(h1.daemon?.exitCode, null, 'the daemon crashed');
    assert.ok(dropped > 0, 'no drops were counted');
    assert.ok(rssAfter <= rssBefore * 1.2 + 16, `RSS grew from ${rssBefore.toFixed(1)} to ${rssAfter.toFixed(1)} MiB`);
    assert.deepEqual(stackTraces(tb.daemonLog(h1)), []);
    await tb.waitForPing(c1, c2.ip, 10_000);
  });
});
