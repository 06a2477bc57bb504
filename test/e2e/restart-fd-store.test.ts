// Issue 22 item 2: a crash restart of a userspace-datapath daemon under systemd's fd store (emulated: see
// test/harness/fd-store.ts). The daemon stores its TUN queues and sockets; after a SIGKILL the store holds them, so
// flannel.1 keeps its carrier and its route is never `linkdown` (sampled all along), and the restarted daemon adopts
// the same queues. The gap (ping loss and max RTT) is reported, not asserted: packets inside the killed process die
// with it.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { FdStore } from '../support/fd-store.js';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable, tunnelGsoUnavailable } from '../support/prerequisites.js';
import { poll, type Testbed, type Container, type Host } from '../support/testbed.js';
import { startUserspacePair, USERSPACE_ARGS } from '../support/userspace-pair.js';
import { startPingStream } from '../support/ping-stream.js';
import { stackTraces } from '../support/proc-stats.js';

const skip = testbedUnavailable();
/** Linux ≥ 6.17 has UDP-tunnel GSO on TUN/TAP: there the restarted node must come back on the tunnel-gso send path. */
const TUNNEL_GSO = tunnelGsoUnavailable() === null;
const H2_ARGS = TUNNEL_GSO ? [...USERSPACE_ARGS, '--vxlan-send-path', 'tunnel-gso'] : USERSPACE_ARGS;
/** 10 s of pings every 10 ms: long enough that replies to what queued during the restart still count. */
const PINGS = 1000;

describe('SIGKILL and restart with the fd store (userspace datapath)', { skip: skip ?? false, timeout: 180_000 }, () => {
  let tb: Testbed;
  let store: FdStore;
  let c1: Container;
  let c2: Container;
  let h2: Host;

  before(async () => {
    ({ tb, h2, c1, c2 } = await startUserspacePair({ h2: async (h) => {
      store = await FdStore.start(h.netns, `tsf-fdstore-${crypto.randomBytes(4).toString('hex')}`);
      return { args: H2_ARGS, launcher: store.launcher() };
    } }));
  });

  after(async () => {
    await tb?.destroy();
    await store?.stop();
  });

  it('keeps flannel.1 up with its route while no process runs, and the new daemon adopts the stored queues', async () => {
    await poll('the datapath fds in the store', () => store.messages.some((m) => m.data === 'FDSTORE=1\nFDNAME=flannel.1-send-0'));
    const stored = store.messages.filter((m) => m.data.startsWith('FDSTORE=1\nFDNAME=flannel.1-'));
    assert.ok(stored.every((m) => m.fds === 1), JSON.stringify(stored));
    assert.ok(stored.some((m) => m.data.endsWith('-tun-0')) && stored.some((m) => m.data.endsWith('-udp-0')));

    let sampling = true;
    let samples = 0;
    const bad: string[] = [];
    const sampler = (async () => {
      while (sampling) {
        const route = await mustExec(['ip', '-n', h2.netns, '-o', 'route', 'show', '10.0.0.0/16']);
        const link = await mustExec(['ip', '-n', h2.netns, '-o', 'link', 'show', 'flannel.1']);
        samples++;
        if (!/dev flannel\.1/.test(route) || /linkdown/.test(route)) bad.push(`route: ${route.trim()}`);
        if (/NO-CARRIER|state DOWN/.test(link)) bad.push(`link: ${link.trim()}`);
      }
    })();
    const forth = startPingStream(c1.netns, c2.ip, PINGS, 0.01);
    const back = startPingStream(c2.netns, c1.ip, PINGS, 0.01);
    await sleep(1000);
    const logBefore = tb.daemonLog(h2).length;
    await tb.killDaemon(h2);
    const killedAt = Date.now();
    const samplesAtKill = samples;
    // systemd's RestartSec: a moment with no process at all, in which the store alone holds the queues.
    await sleep(300);
    const samplesWithoutProcess = samples - samplesAtKill;
    tb.startDaemon(h2, H2_ARGS, store.launcher());
    await tb.waitForSubnetEnv(h2);
    const backAfter = Date.now() - killedAt;
    const [f, b] = [await forth.done, await back.done];
    sampling = false;
    await sampler;
    const maxRtt = (out: string): string => /= [\d.]+\/[\d.]+\/([\d.]+)\//.exec(out)?.[1] ?? '?';
    console.log(`# SIGKILL + restart 300 ms later, fd store: ${f.received}/${f.sent} pings c1→c2 (max RTT ${maxRtt(f.output)} ms), `
      + `${b.received}/${b.sent} c2→c1 (max RTT ${maxRtt(b.output)} ms); route/link sampled ${samples} times `
      + `(${samplesWithoutProcess} with no daemon running), ${bad.length} linkdown/no-carrier; `
      + `subnet.env seen again ${backAfter} ms after the kill`);
    const newRecs = tb.daemonLog(h2).slice(logBefore).split('\n').filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { time: number; msg: string });
    console.log(`# the restarted daemon, ms after the kill:\n${newRecs.slice(0, 16).map((r) => `#   +${r.time - killedAt} ${r.msg}`).join('\n')}`);
    assert.deepEqual(bad, [], 'flannel.1 lost its carrier or its route went linkdown');
    assert.ok(samplesWithoutProcess > 0, 'no sample fell in the time without a daemon');
    const newLog = tb.daemonLog(h2).slice(logBefore);
    assert.match(newLog, /adopting the open TUN queues and sockets of flannel\.1 \(fd store\)/, newLog.slice(-3000));
    assert.ok(f.received > 0 && b.received > 0);
    if (TUNNEL_GSO) {
      // The TAP died with the killed process: the adopting one opens it again before its loops run, and takes over
      // the FORWARD rule the killed one left rather than adding a second.
      assert.match(newLog, /datapath send path: tunnel-gso/, newLog.slice(-3000));
      const forward = await tb.exec(h2, ['iptables', '-S', 'FORWARD']);
      assert.equal(forward.stdout.split('\n').filter((l) => l.includes('-i flannel.1-gso ')).length, 1, forward.stdout);
    }
    await tb.waitForPing(c1, c2.ip);
    await tb.waitForPing(c2, c1.ip);
    assert.deepEqual(stackTraces(tb.daemonLog(h2)), []);
  });
});
