// Reliability 7 (issue 7): 200 synthetic peers joining and leaving in rounds while a host-gw daemon follows them.
// At the end every route matches the leases exactly; between rounds its RSS and its open file descriptors are
// sampled and must level off, not climb. `npm test` runs a short form; `npm run test:soak` (SOAK_SECONDS, default
// 600) runs rounds for that long.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { mustExec, inNetns } from '../harness/netns.js';
import { testbedUnavailable } from '../harness/prerequisites.js';
import { poll, Testbed, type Host } from '../harness/testbed.js';
import { fdCount, rssMiB, stackTraces } from './support/proc-stats.js';

const PEERS = 200;
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? '0');
const SHORT_ROUNDS = 10;
const AGENT = path.join(__dirname, 'support', 'churn-agent.js');
const CONFIG = { Network: '10.0.0.0/12', SubnetLen: 24, Backend: { Type: 'host-gw' } };
const skip = testbedUnavailable();

describe(`churn of ${PEERS} peers (host-gw)`, { skip: skip ?? false, timeout: SOAK_SECONDS > 0 ? (SOAK_SECONDS + 300) * 1000 : 170_000 }, () => {
  let tb: Testbed;
  let h1: Host;

  before(async () => {
    tb = await Testbed.create({ hosts: 1 });
    h1 = tb.host(1);
    await tb.putConfig(CONFIG);
    tb.startDaemon(h1);
    await tb.waitForSubnetEnv(h1);
  });

  after(async () => {
    await tb?.destroy();
  });

  /** Peer routes (10.8.x.0/24 via …) in h1's table, as `dst via gw`. */
  async function peerRoutes(): Promise<string[]> {
    return (await tb.routes(h1)).filter((r) => r.startsWith('10.8.')).map((r) => r.split(' ').slice(0, 3).join(' ')).sort();
  }

  async function expectedRoutes(): Promise<string[]> {
    const leases = await tb.leases();
    const out: string[] = [];
    for (const [key, value] of leases) {
      const m = /\/subnets\/(10\.8\.\d+\.0)-24$/.exec(key);
      if (m) out.push(`${m[1]}/24 via ${(JSON.parse(value) as { PublicIP: string }).PublicIP}`);
    }
    return out.sort();
  }

  it('ends with routes that match the leases, and RSS and fds that level off', async () => {
    const pid = h1.daemon?.pid;
    assert.ok(pid !== undefined);
    const samples: Array<{ rss: number; fds: number }> = [];
    const started = Date.now();
    let rounds = 0;
    let changes = 0;
    const more = (): boolean => (SOAK_SECONDS > 0 ? Date.now() - started < SOAK_SECONDS * 1000 : rounds < SHORT_ROUNDS);
    while (more()) {
      const out = await mustExec(inNetns(h1.netns, [process.execPath, AGENT, tb.etcdEndpoint, tb.prefix, String(PEERS)]),
        { timeoutMs: 60_000 });
      const { puts, deletes } = JSON.parse(out) as { puts: number; deletes: number };
      changes += puts + deletes;
      rounds++;
      // Let the daemon catch up before sampling, so the sample measures what it keeps, not what is in flight.
      await poll(`routes after round ${rounds}`, async () => {
        const [have, want] = [await peerRoutes(), await expectedRoutes()];
        return have.length === want.length && have.every((r, i) => r === want[i]);
      }, 60_000, 250);
      await sleep(300);
      samples.push({ rss: rssMiB(pid), fds: fdCount(pid) });
    }
    assert.equal(h1.daemon?.exitCode, null, 'the daemon exited');
    const [have, want] = [await peerRoutes(), await expectedRoutes()];
    assert.deepEqual(have, want);
    assert.deepEqual(stackTraces(tb.daemonLog(h1)), []);
    // Growth is judged after the first rounds (V8 grows its heap to a working size first): the second half of the
    // run may not sit above the first half's peak by more than a margin, and descriptors may not climb at all.
    const half = Math.floor(samples.length / 2);
    const early = samples.slice(1, Math.max(2, half));
    const late = samples.slice(half);
    const earlyPeak = Math.max(...early.map((s) => s.rss));
    const latePeak = Math.max(...late.map((s) => s.rss));
    const fdsEarly = Math.max(...early.map((s) => s.fds));
    const fdsLate = Math.max(...late.map((s) => s.fds));
    console.log(`# ${rounds} rounds, ${changes} lease changes in ${((Date.now() - started) / 1000).toFixed(0)} s; `
      + `RSS MiB ${samples.map((s) => s.rss.toFixed(0)).join(' ')}; fds ${samples.map((s) => s.fds).join(' ')}`);
    assert.ok(latePeak <= earlyPeak * 1.15 + 8, `RSS keeps growing: ${earlyPeak.toFixed(1)} → ${latePeak.toFixed(1)} MiB`);
    assert.ok(fdsLate <= fdsEarly + 2, `file descriptors leak: ${fdsEarly} → ${fdsLate}`);
  });
});
