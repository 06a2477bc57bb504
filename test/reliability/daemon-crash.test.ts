// Reliability 3 (issue 7): the daemon SIGKILLed at random moments of its start and restarted, again and again.
// Meanwhile subnet.env is read every few milliseconds and must always be whole (it is replaced by rename, never
// written in place), the kernel datapaths (host-gw, vxlan) keep forwarding while the daemon is down, and the same subnet
// comes back every time.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { parseSubnetEnv } from '../support/subnet-env.js';
import { Testbed, type Container, type Host } from '../support/testbed.js';
import { KERNEL_DATAPATHS, datapathNetwork } from '../support/datapaths.js';
import { startPingStream } from '../support/ping-stream.js';
import { stackTraces } from '../support/proc-stats.js';

const CRASHES = 8;
const skip = testbedUnavailable();

const DATAPATHS = KERNEL_DATAPATHS;

for (const dp of DATAPATHS) describe(`daemon SIGKILL at random moments (${dp.name})`, { skip: skip ?? false, timeout: 100_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, config: datapathNetwork(dp) });
    for (const h of tb.hosts) tb.startDaemon(h, dp.daemonArgs);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    c1 = await tb.addContainer(tb.host(1), 'c1');
    c2 = await tb.addContainer(tb.host(2), 'c1');
    await tb.waitForPing(c1, c2.ip);
    await tb.waitForPing(c2, c1.ip);
  });

  after(async () => {
    await tb?.destroy();
  });

  it(`survives ${CRASHES} SIGKILLs: subnet.env always whole, same subnet back, no packet lost`, async () => {
    const h2: Host = tb.host(2);
    const envBefore = fs.readFileSync(h2.subnetFile, 'utf8');
    const keysBefore = [...(await tb.leases()).keys()];
    // Reader: as often as the event loop allows, at least every few ms.
    let reads = 0;
    const broken: string[] = [];
    const reader = setInterval(() => {
      reads++;
      let text: string;
      try {
        text = fs.readFileSync(h2.subnetFile, 'utf8');
      } catch (e) {
        broken.push(`read failed: ${(e as Error).message}`);
        return;
      }
      try {
        const env = parseSubnetEnv(text);
        if (!/^10\.0\.\d+\.1\/24$/.test(env.subnet) || !(env.mtu > 0)) broken.push(text);
      } catch {
        broken.push(text);
      }
    }, 2);
    const pings = CRASHES * 30 + 40;
    const forth = startPingStream(c1.netns, c2.ip, pings);
    const back = startPingStream(c2.netns, c1.ip, pings);
    const delays: number[] = [];
    try {
      for (let i = 0; i < CRASHES; i++) {
        // Anywhere from the first instructions to well after the subnet file is written.
        const ms = crypto.randomInt(0, 2500);
        delays.push(ms);
        await sleep(ms);
        await tb.killDaemon(h2);
        await sleep(200);
        tb.startDaemon(h2, dp.daemonArgs);
      }
      await tb.waitForSubnetEnv(h2);
    } finally {
      clearInterval(reader);
    }
    const results = [await forth.done, await back.done];
    assert.deepEqual(broken.slice(0, 3), [], `subnet.env was not whole in ${broken.length} of ${reads} reads`);
    assert.ok(reads > 1000, `only ${reads} reads`);
    assert.equal(fs.readFileSync(h2.subnetFile, 'utf8'), envBefore, 'a different subnet came back');
    assert.deepEqual([...(await tb.leases()).keys()], keysBefore);
    for (const r of results) assert.equal(r.received, r.sent, `packets lost during the crashes: ${r.output}`);
    const leftovers = fs.readdirSync(h2.stateDir.replace(/state$/, '')).filter((f) => f.endsWith('.tmp'));
    console.log(`# ${dp.name}: ${CRASHES} SIGKILLs after ${delays.join(', ')} ms; ${reads} reads of subnet.env, all whole; `
      + `${results[0]?.sent} pings each way, 0 lost; ${leftovers.length} temp files left by kills`);
    assert.deepEqual(stackTraces(tb.daemonLog(h2)), []);
    await tb.waitForPing(c2, c1.ip);
  });
});

// The userspace datapath lives in the daemon, so it is down while the daemon is; what matters is that a restart
// brings it back by itself, with the same subnet, and how long that takes (reported, not asserted: no timing
// thresholds in tests).
describe('daemon SIGKILL and restart (vxlan, userspace datapath)', { skip: skip ?? false, timeout: 100_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;
  const args = ['--vxlan-datapath', 'userspace'];

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    await tb.putConfig({ Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } });
    for (const h of tb.hosts) tb.startDaemon(h, args);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    c1 = await tb.addContainer(tb.host(1), 'c1', { txChecksumOff: true });
    c2 = await tb.addContainer(tb.host(2), 'c1', { txChecksumOff: true });
    await tb.waitForPing(c1, c2.ip);
  });

  after(async () => {
    await tb?.destroy();
  });

  it('forwards again after a restart, with the same subnet', async () => {
    const h2 = tb.host(2);
    const envBefore = fs.readFileSync(h2.subnetFile, 'utf8');
    const timings: string[] = [];
    for (let i = 0; i < 3; i++) {
      await tb.killDaemon(h2);
      const t0 = Date.now();
      tb.startDaemon(h2, args);
      await tb.waitForSubnetEnv(h2);
      const ready = Date.now() - t0;
      await tb.waitForPing(c1, c2.ip, 30_000);
      await tb.waitForPing(c2, c1.ip, 30_000);
      timings.push(`${ready} ms to subnet.env, ${Date.now() - t0} ms to pings both ways`);
      assert.equal(fs.readFileSync(h2.subnetFile, 'utf8'), envBefore);
    }
    assert.deepEqual(stackTraces(tb.daemonLog(h2)), []);
    console.log(`# userspace datapath back after restart: ${timings.join('; ')}`);
  });
});
