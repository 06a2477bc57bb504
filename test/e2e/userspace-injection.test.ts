// Issue 20 item 1: injection through the VXLAN port of the userspace datapath. Hand-made VXLAN frames are sent to
// host 2 with a known peer's PublicIP (host 1's) as outer source: from host 1's namespace (a compromised peer), and
// from another underlay host that puts host 1's address on its interface (a spoofer). Frames whose inner source is
// not host 1's subnet (an unleased subnet of the Network, host 2's own subnet, 8.8.8.8) or whose inner destination is
// not host 2's subnet (host 2's own underlay address) must reach nobody and be counted by reason in /metrics and
// `status`; frames from host 1's pod to host 2's pod still arrive (also when spoofed: what only an authenticated
// transport would stop), and real traffic keeps flowing.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { inNetns, mustExec } from '../support/netns.js';
import { spawnTracked } from '../support/proc.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { CLI_JS, poll, Testbed, type Container, type Host } from '../support/testbed.js';
import type { InjectFrame, InjectSpec } from '../support/agents/vxlan-inject.js';

const METRICS_PORT = 9473;
const SINK_PORT = 5599;
const N = 20;
const INJECT = path.join(__dirname, '..', 'support', 'agents', 'vxlan-inject.js');
const SINK = path.join(__dirname, '..', 'support', 'agents', 'udp-sink.js');
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

  /** Sends each frame N times from `from` (spoofing `bind` when given); returns what arrived and the drop deltas. */
  async function inject(from: Host, frames: readonly InjectFrame[], bind?: string): Promise<{
    atPod: Record<string, number>; atHost: Record<string, number>; drops: Record<string, number>;
    delta: (reason: string) => number;
  }> {
    const h2 = tb.host(2);
    let vtepMac = '';
    for (const value of (await tb.leases()).values()) {
      const lease = JSON.parse(value) as { PublicIP: string; BackendData?: { VtepMAC?: string } };
      if (lease.PublicIP === h2.ip) vtepMac = lease.BackendData?.VtepMAC ?? '';
    }
    assert.match(vtepMac, /^[0-9a-f:]{17}$/, 'host 2 published no VtepMAC');
    const before = await datapathCounters(h2);
    const spec: InjectSpec = { to: h2.ip, port: 8472, vni: 1, dstMac: vtepMac, count: N, frames,
      ...(bind !== undefined ? { bind } : {}) };
    const out = await mustExec(inNetns(from.netns, [process.execPath, INJECT, JSON.stringify(spec)]), { timeoutMs: 30_000 });
    assert.deepEqual(JSON.parse(out), { sent: N * frames.length });
    // The last frames are legit and go through the same socket, so the same loop, in order: once they are all in,
    // every frame before them was handled.
    const last = frames[frames.length - 1]!.tag;
    await poll(`the ${N} ${last} frames to arrive`, async () => ((await sinkC2!.counts())[last] ?? 0) >= N, 20_000);
    const atPod = await sinkC2!.counts();
    const atHost = await sinkH2!.counts();
    const drops = await datapathCounters(h2);
    const delta = (reason: string): number => (drops[reason] ?? 0) - (before[reason] ?? 0);
    console.log(`# at the pod ${JSON.stringify(atPod)}; at the host ${JSON.stringify(atHost)}; drops foreign_source `
      + `+${delta('foreign_source')}, foreign_destination +${delta('foreign_destination')}`);
    return { atPod, atHost, drops, delta };
  }

  /** Frames with a foreign inner source or destination, then legit ones (host 1's pod → host 2's pod), tags prefixed. */
  function framesTagged(prefix: string): InjectFrame[] {
    const h2 = tb.host(2);
    const h2Subnet = c2.ip.split('.').slice(0, 3).join('.');
    return [
      { tag: `${prefix}unleased-source`, src: '10.0.250.9', dst: c2.ip, dport: SINK_PORT },
      { tag: `${prefix}own-subnet-source`, src: `${h2Subnet}.77`, dst: c2.ip, dport: SINK_PORT },
      { tag: `${prefix}internet-source`, src: '8.8.8.8', dst: c2.ip, dport: SINK_PORT },
      { tag: `${prefix}underlay-destination`, src: c1.ip, dst: h2.ip, dport: SINK_PORT },
      { tag: `${prefix}legit`, src: c1.ip, dst: c2.ip, dport: SINK_PORT },
    ];
  }

  function assertHeld(r: Awaited<ReturnType<typeof inject>>, prefix: string): void {
    for (const tag of ['unleased-source', 'own-subnet-source', 'internet-source']) {
      assert.equal(r.atPod[prefix + tag] ?? 0, 0, `${prefix}${tag}: frames were delivered into the pod`);
    }
    assert.equal(r.atHost[`${prefix}underlay-destination`] ?? 0, 0, 'frames to the host\'s underlay address were delivered');
    assert.equal(r.atPod[`${prefix}legit`], N, 'the legit frames did not all arrive');
    assert.equal(r.delta('foreign_source'), 3 * N);
    assert.equal(r.delta('foreign_destination'), N);
  }

  it(`delivers 0 of ${N} frames with a foreign inner source or destination, counts them, and passes the rest`, async () => {
    const r = await inject(tb.host(1), framesTagged(''));
    assertHeld(r, '');
    // `status` shows the same counters (from the daemon's state file, written periodically).
    const h2 = tb.host(2);
    const shown = await poll('status to show the foreign-address drops', async () => {
      const out = await tb.exec(h2, [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(h2)]);
      const counters = (JSON.parse(out.stdout) as { daemon: { counters: Record<string, number> } }).daemon.counters;
      return counters['drop_foreign_source'] === r.drops['foreign_source'] ? counters : null;
    }, 20_000, 500);
    assert.equal(shown['drop_foreign_destination'], r.drops['foreign_destination']);
    await tb.waitForPing(c1, c2.ip, 10_000);
    await tb.waitForPing(c2, c1.ip, 10_000);
  });

  it('holds frames spoofing the peer\'s address from another underlay host to the same rules', async () => {
    // An attacker host on the underlay holds host 1's address as an extra /32, never answers or asks ARP with it
    // (arp_ignore 8, arp_announce 2, a static neighbour for host 2), so host 1 keeps its traffic.
    const attacker = await tb.addHost();
    const h1 = tb.host(1);
    const h2 = tb.host(2);
    const mac = (JSON.parse(await mustExec(['ip', '-n', h2.netns, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]!.address;
    await mustExec(inNetns(attacker.netns, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_ignore=8',
      'net.ipv4.conf.all.arp_announce=2']));
    await mustExec(['ip', '-n', attacker.netns, 'neigh', 'replace', h2.ip, 'lladdr', mac, 'nud', 'permanent', 'dev', 'eth0']);
    await mustExec(['ip', '-n', attacker.netns, 'addr', 'add', `${h1.ip}/32`, 'dev', 'eth0']);
    const r = await inject(attacker, framesTagged('spoofed-'), h1.ip);
    // What outer spoofing still allows (README): frames that look like the peer's own pods reach ours.
    assertHeld(r, 'spoofed-');
    await tb.waitForPing(c1, c2.ip, 10_000);
    await tb.waitForPing(c2, c1.ip, 10_000);
  });
});
