// The tunnel-GSO send path (src/datapath/send-path.ts) and its fallback, end to end in namespaces with hashed TCP
// transfers large enough that the pods' stacks send 64 KiB TSO frames:
// - two-host testbed, no control plane (test/e2e/support/userspace-vxlan-node.ts): a userspace node forced onto each
//   send path, against a kernel VXLAN node configured as upstream flanneld does and against another userspace node;
//   the counters say which path carried the frames;
// - the daemon beside the real upstream flanneld v0.28.9 (kernel VXLAN), the daemon run with
//   --vxlan-send-path=tunnel-gso and then =segment; its log says which path runs.
// `auto` keeps tunnel-gso under loose reverse-path filtering and falls back to segment under strict. Where the kernel lacks UDP-tunnel GSO (< 6.17)
// the tunnel-gso cases are skipped and the fallback cases still run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { missingPrerequisite, testbedUnavailable, tunnelGsoUnavailable } from '../support/prerequisites.js';
import { startUpstream, upstreamUnavailable } from '../support/upstream-flanneld.js';
import { inNetns, mustExec } from '../support/netns.js';
import { buildPodPair, configureKernelVxlan, destroyPodPair, podPairHosts, startAgent, stopAgent, type PairHost } from '../support/pod-pair.js';
import { Testbed, poll } from '../support/testbed.js';
import { pingOnce, tcpTransfer } from '../support/traffic.js';
import type { NodeSpec } from '../support/agents/userspace-vxlan-node.js';

const TAG = randomBytes(2).toString('hex');
const NODE_JS = path.join(__dirname, '..', 'support', 'agents', 'userspace-vxlan-node.js');
const TRANSFER_BYTES = 48 * 1024 * 1024;
type SendPath = 'tunnel-gso' | 'segment';

const [A, B] = podPairHosts('tg', TAG, '5b');
type Host = PairHost;

const skip = missingPrerequisite({ tun: true });

const noTunnelGso = tunnelGsoUnavailable();

const nodes = new Set<ChildProcessWithoutNullStreams>();

/** Starts a userspace node on `self` with the send path forced; resolves once it is ready, with the path it took. */
async function startUserspace(self: Host, peer: Host, sendPath: SendPath | 'auto',
  expected: SendPath = sendPath === 'auto' ? 'tunnel-gso' : sendPath): Promise<ChildProcessWithoutNullStreams> {
  const spec: NodeSpec = {
    device: 'flannel.1', vni: 1, port: 8472, mac: self.mac, localIP: self.ip, network: '10.244.0.0/16', subnetLen: 24,
    ownSubnet: self.subnet, mtu: 1450, peers: [{ subnet: peer.subnet, publicIP: peer.ip, mac: peer.mac }], sendPath,
  };
  const { proc, output } = await startAgent(nodes, self.ns, NODE_JS, spec);
  assert.match(output(), new RegExp(`^send-path ${expected}$`, 'm'), `the node runs send path ${expected}`);
  return proc;
}

const stopNode = (proc: ChildProcessWithoutNullStreams): Promise<Record<string, number>> => stopAgent(nodes, proc);
const kernelVxlan = (self: Host, peer: Host): Promise<void> => configureKernelVxlan(self, peer);

async function removeFlannel(h: Host): Promise<void> {
  await mustExec(['ip', '-n', h.ns, 'link', 'del', 'flannel.1']).catch(() => '');
}

/** Pings and hashed TCP transfers both ways between the pods. */
async function assertTransfers(label: string): Promise<void> {
  assert.ok(await pingOnce(A.pod, B.podIP), `${label}: ping A→B`);
  for (const [from, to] of [[A, B], [B, A]] as const) {
    const r = await tcpTransfer(from.pod, to.pod, to.podIP, TRANSFER_BYTES);
    assert.equal(r.bytesReceived, r.bytesSent, `${label}: TCP ${from.ns}→${to.ns} byte count`);
    assert.equal(r.receivedSha256, r.sentSha256, `${label}: TCP ${from.ns}→${to.ns} bytes`);
  }
}

/** The counters of a node that sent bulk TCP on `path`: its frames went the way the path says, none refused. */
function assertSentOn(c: Record<string, number>, sendPath: SendPath): void {
  assert.equal(c['send_path_tunnel_gso'], sendPath === 'tunnel-gso' ? 1 : 0);
  if (sendPath === 'tunnel-gso') {
    assert.ok((c['tx_tunnel_frames'] ?? 0) > 0, 'frames written to the TAP');
    assert.equal(c['tx_tso_frames'] ?? 0, 0, 'no TSO frame segmented in userspace');
    assert.equal(c['tx_tap_write_failed'] ?? 0, 0, 'no TAP write refused');
  } else {
    assert.equal(c['tx_tunnel_frames'] ?? 0, 0);
    assert.ok((c['tx_tso_frames'] ?? 0) > 0, 'TSO frames segmented in userspace');
  }
}

describe('tunnel-GSO send path and its fallback, two hosts', { skip: skip ?? false, timeout: 300_000 }, () => {
  before(() => buildPodPair([A, B], `tg${TAG}`));

  after(() => destroyPodPair([A, B], nodes));

  for (const sendPath of ['tunnel-gso', 'segment'] as const) {
    const skipPath = sendPath === 'tunnel-gso' ? noTunnelGso ?? false : false;

    it(`${sendPath}: userspace ↔ kernel VXLAN, bulk TCP both ways keeps its bytes`, { skip: skipPath }, async () => {
      const a = await startUserspace(A, B, sendPath);
      await kernelVxlan(B, A);
      try {
        await assertTransfers(`${sendPath} ↔ kernel`);
      } finally {
        const c = await stopNode(a);
        await removeFlannel(B);
        assertSentOn(c, sendPath);
      }
    });

    if (sendPath === 'tunnel-gso') {
      it('tunnel-gso: the TAP deleted under the loops, traffic moves on over the segment path', { skip: skipPath }, async () => {
        const a = await startUserspace(A, B, sendPath);
        await kernelVxlan(B, A);
        try {
          assert.ok(await pingOnce(A.pod, B.podIP), 'ping before');
          await mustExec(['ip', '-n', A.ns, 'link', 'del', 'flannel.1-gso']);
          // The loop finds its writes refused and the TAP gone, dies, and is restarted on the segment path.
          let up = false;
          for (let i = 0; i < 50 && !up; i++) up = await pingOnce(A.pod, B.podIP, 1);
          assert.ok(up, 'ping after the TAP was deleted');
          await assertTransfers('after the TAP was deleted');
        } finally {
          const c = await stopNode(a);
          await removeFlannel(B);
          assert.equal(c['send_path_tunnel_gso'], 0, `the datapath reports the segment path: ${JSON.stringify(c)}`);
          assert.ok((c['tx_tso_frames'] ?? 0) > 0, 'TSO frames segmented after the loss');
        }
      });
    }

    // Loose reverse-path filtering (Ubuntu's 2) passes the TAP's frames thanks to its address; strict (RHEL's 1)
    // drops them, so there `auto` must fall back.
    const rpCase = sendPath === 'tunnel-gso' ? { rp: '2', skip: skipPath } : { rp: '1', skip: false };
    it(`auto with net.ipv4.conf.all.rp_filter=${rpCase.rp} runs ${sendPath}, and traffic flows`, { skip: rpCase.skip }, async () => {
      const sysctl = (v: string): Promise<string> =>
        mustExec(inNetns(A.ns, ['sysctl', '-qw', `net.ipv4.conf.all.rp_filter=${v}`]));
      await sysctl(rpCase.rp);
      try {
        const a = await startUserspace(A, B, 'auto', sendPath);
        await kernelVxlan(B, A);
        try {
          await assertTransfers(`auto with rp_filter ${rpCase.rp} ↔ kernel`);
        } finally {
          const c = await stopNode(a);
          await removeFlannel(B);
          assertSentOn(c, sendPath);
        }
      } finally {
        await sysctl('0');
      }
    });

    it(`${sendPath}: userspace ↔ userspace, bulk TCP both ways keeps its bytes`, { skip: skipPath }, async () => {
      const a = await startUserspace(A, B, sendPath);
      const b = await startUserspace(B, A, sendPath);
      await assertTransfers(`${sendPath} ↔ ${sendPath}`);
      const [ca, cb] = [await stopNode(a), await stopNode(b)];
      assertSentOn(ca, sendPath);
      assertSentOn(cb, sendPath);
      // The receive side must have taken what the other sent; a refused or truncated frame would show here.
      assert.equal(cb['rx_tun_write_failed'] ?? 0, 0);
      assert.equal(ca['rx_tun_write_failed'] ?? 0, 0);
    });
  }
});

const upstreamSkip = testbedUnavailable() ?? upstreamUnavailable('v0.28.9') ?? skip;

describe('tunnel-GSO send path beside the real flanneld v0.28.9', { skip: upstreamSkip ?? false, timeout: 300_000 }, () => {
  const PREFIX = '/tgso/network';
  let tb: Testbed;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, prefix: PREFIX });
    await tb.putConfig({ Network: '10.9.0.0/16', Backend: { Type: 'vxlan' } });
    const h1 = tb.host(1);
    startUpstream(tb, h1, 'v0.28.9');
    await tb.waitForSubnetEnv(h1, 60_000);
  });

  after(async () => {
    await tb?.destroy();
  });

  for (const sendPath of ['tunnel-gso', 'segment'] as const) {
    const skipPath = sendPath === 'tunnel-gso' ? noTunnelGso ?? false : false;
    it(`${sendPath}: containers on tsflanneld (userspace) and v0.28.9 move bulk TCP both ways`, { skip: skipPath }, async () => {
      const [h1, h2] = [tb.host(1), tb.host(2)];
      tb.startDaemon(h2, ['--vxlan-datapath', 'userspace', `--vxlan-send-path=${sendPath}`]);
      try {
        await tb.waitForSubnetEnv(h2);
        await poll(`tsflanneld logs send path ${sendPath}`,
          () => tb.daemonLog(h2).includes(`datapath send path: ${sendPath}`), 30_000);
        const c1 = h1.containers[0] ?? await tb.addContainer(h1, 'c1');
        const c2 = h2.containers[0] ?? await tb.addContainer(h2, 'c2');
        await tb.waitForPing(c2, c1.ip, 45_000);
        await tb.waitForPing(c1, c2.ip, 45_000);
        for (const [from, to] of [[c1, c2], [c2, c1]] as const) {
          const r = await tb.tcpTransfer(from, to, TRANSFER_BYTES);
          assert.equal(r.bytesReceived, r.bytesSent, `${sendPath}: ${from.host.netns}→${to.host.netns} byte count`);
          assert.equal(r.receivedSha256, r.sentSha256, `${sendPath}: ${from.host.netns}→${to.host.netns} bytes`);
        }
      } finally {
        await tb.stopDaemon(h2);
      }
    });
  }
});
