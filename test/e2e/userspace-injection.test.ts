// Issue 20 item 1: injection through the VXLAN port of the userspace datapath. Hand-made VXLAN frames are sent to
// host 2 from host 1's namespace, so their outer source is a known peer's PublicIP (as a compromised peer, or anyone
// spoofing its address on the underlay, would send them). Frames whose inner source is not host 1's subnet (an
// unleased subnet of the Network, host 2's own subnet, 8.8.8.8) or whose inner destination is not host 2's subnet
// (host 2's own underlay address) must reach nobody and be counted by reason; the same frames with host 1's pod as
// source and host 2's pod as destination still arrive, and real traffic keeps flowing. The drops show in /metrics
// and in `status`.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { inNetns, mustExec } from '../harness/netns.js';
import { spawnTracked } from '../harness/proc.js';
import { testbedUnavailable } from '../harness/prerequisites.js';
import { CLI_JS, poll, Testbed, type Container, type Host } from '../harness/testbed.js';
import type { InjectFrame, InjectSpec } from './support/vxlan-inject.js';

const METRICS_PORT = 9473;
const SINK_PORT = 5599;
const N = 20;
const INJECT = path.join(__dirname, 'support', 'vxlan-inject.js');
const SINK = path.join(__dirname, 'support', 'udp-sink.js');
const CONFIG = { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } };
const skip = testbedUnavailable(['curl']);

/** A udp-sink.js process in a namespace. */
class Sink {
  private readonly lines: AsyncIterableIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async start(netns: string, addr: string): Promise<Sink> {
    const child = spawnTracked('ip', ['netns', 'exec', netns, process.execPath, SINK, addr, String(SINK_PORT)],
      { stdio: ['pipe', 'pipe', 'inherit'] }) as ChildProcessWithoutNullStreams;
    const sink = new Sink(child);
    assert.equal(await sink.next(), 'ready');
    return sink;
  }

  async counts(): Promise<Record<string, number>> {
    this.child.stdin.write('count\n');
    return JSON.parse(await this.next()) as Record<string, number>;
  }

  close(): void {
    this.child.stdin.end();
  }

  private async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done === true) throw new Error('udp-sink ended early');
    return r.value;
  }
}

async function datapathCounters(h: Host): Promise<Record<string, number>> {
  const text = await mustExec(inNetns(h.netns, ['curl', '-s', `http://127.0.0.1:${METRICS_PORT}/metrics`]));
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^flannel_datapath_drops_total\{reason="([a-z_]+)"[^}]*\} (\S+)$/gm)) {
    out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

describe('userspace VXLAN datapath: inner addresses of received frames', { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;
  let sinkC2: Sink | null = null;
  let sinkH2: Sink | null = null;

  before(async () => {
    tb = await Testbed.create({ hosts: 2 });
    await tb.putConfig(CONFIG);
    for (const h of tb.hosts) {
      tb.startDaemon(h, ['--vxlan-datapath', 'userspace', '--healthz-ip', '127.0.0.1', '--healthz-port', String(METRICS_PORT)]);
    }
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    c1 = await tb.addContainer(tb.host(1), 'c1');
    c2 = await tb.addContainer(tb.host(2), 'c1');
    await tb.waitForPing(c1, c2.ip);
    sinkC2 = await Sink.start(c2.netns, '0.0.0.0');
    sinkH2 = await Sink.start(tb.host(2).netns, tb.host(2).ip);
  });

  after(async () => {
    sinkC2?.close();
    sinkH2?.close();
    await tb?.destroy();
  });

  it(`delivers 0 of ${N} frames with a foreign inner source or destination, counts them, and passes the rest`, async () => {
    const h1 = tb.host(1);
    const h2 = tb.host(2);
    let vtepMac = '';
    for (const value of (await tb.leases()).values()) {
      const lease = JSON.parse(value) as { PublicIP: string; BackendData?: { VtepMAC?: string } };
      if (lease.PublicIP === h2.ip) vtepMac = lease.BackendData?.VtepMAC ?? '';
    }
    assert.match(vtepMac, /^[0-9a-f:]{17}$/, 'host 2 published no VtepMAC');
    const h2Subnet = c2.ip.split('.').slice(0, 3).join('.');
    const frames: InjectFrame[] = [
      { tag: 'unleased-source', src: '10.0.250.9', dst: c2.ip, dport: SINK_PORT },
      { tag: 'own-subnet-source', src: `${h2Subnet}.77`, dst: c2.ip, dport: SINK_PORT },
      { tag: 'internet-source', src: '8.8.8.8', dst: c2.ip, dport: SINK_PORT },
      { tag: 'underlay-destination', src: c1.ip, dst: h2.ip, dport: SINK_PORT },
      // Last, on the same socket (so the same loop, in order): once these arrived, every frame above was handled.
      { tag: 'legit', src: c1.ip, dst: c2.ip, dport: SINK_PORT },
    ];
    const before = await datapathCounters(h2);
    const spec: InjectSpec = { to: h2.ip, port: 8472, vni: 1, dstMac: vtepMac, count: N, frames };
    const out = await mustExec(inNetns(h1.netns, [process.execPath, INJECT, JSON.stringify(spec)]), { timeoutMs: 30_000 });
    assert.deepEqual(JSON.parse(out), { sent: N * frames.length });
    // The legit frames were sent last through the same loop: once they are all in, every frame above was handled.
    await poll(`the ${N} legit frames to arrive`, async () => ((await sinkC2!.counts())['legit'] ?? 0) >= N, 20_000);
    const atPod = await sinkC2!.counts();
    const atHost = await sinkH2!.counts();
    const after = await datapathCounters(h2);
    const delta = (reason: string): number => (after[reason] ?? 0) - (before[reason] ?? 0);
    console.log(`# at the pod ${JSON.stringify(atPod)}; at the host ${JSON.stringify(atHost)}; drops foreign_source `
      + `+${delta('foreign_source')}, foreign_destination +${delta('foreign_destination')}`);
    for (const tag of ['unleased-source', 'own-subnet-source', 'internet-source']) {
      assert.equal(atPod[tag] ?? 0, 0, `${tag}: frames were delivered into the pod`);
    }
    assert.equal(atHost['underlay-destination'] ?? 0, 0, 'frames to the host\'s underlay address were delivered');
    assert.equal(atPod['legit'], N, 'the legit frames did not all arrive');
    assert.equal(delta('foreign_source'), 3 * N);
    assert.equal(delta('foreign_destination'), N);
    // `status` shows the same counters (from the daemon's state file, written periodically).
    const shown = await poll('status to show the foreign-address drops', async () => {
      const r = await tb.exec(h2, [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(h2)]);
      const counters = (JSON.parse(r.stdout) as { daemon: { counters: Record<string, number> } }).daemon.counters;
      return counters['drop_foreign_source'] === after['foreign_source'] ? counters : null;
    }, 20_000, 500);
    assert.equal(shown['drop_foreign_destination'], after['foreign_destination']);
    await tb.waitForPing(c1, c2.ip, 10_000);
    await tb.waitForPing(c2, c1.ip, 10_000);
  });
});
