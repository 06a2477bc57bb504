// The userspace VXLAN datapath on a two-host namespace testbed, driven by test/support/agents/userspace-vxlan-node.ts
// (no etcd or daemon): userspace ↔ userspace and userspace ↔ a kernel VXLAN node configured with iproute2 exactly as
// upstream flanneld configures it. Ping and hashed TCP transfers both ways, ICMP unreachable for an unknown subnet,
// a peer leaving and coming back, and random datagrams fired at the VXLAN port.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execCommand, inNetns, mustExec } from '../support/netns.js';
import { buildPodPair, configureKernelVxlan, destroyPodPair, podPairHosts, startAgent, stopAgent, type PairHost } from '../support/pod-pair.js';
import { pingOnce, tcpTransfer } from '../support/traffic.js';
import * as os from 'node:os';
import type { BackendNodeSpec } from '../support/agents/userspace-backend-node.js';
import type { NodeSpec } from '../support/agents/userspace-vxlan-node.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const TAG = randomBytes(2).toString('hex');
const NODE_JS = path.join(__dirname, '..', 'support', 'agents', 'userspace-vxlan-node.js');
const BACKEND_JS = path.join(__dirname, '..', 'support', 'agents', 'userspace-backend-node.js');

const [A, B] = podPairHosts('uv', TAG, '5a');
type Host = PairHost;

function unavailable(): string | null {
  return missingPrerequisite({ tun: true });
}
const skip = unavailable();

const nodes = new Set<ChildProcessWithoutNullStreams>();

function spec(self: Host, peer: Host): NodeSpec {
  return {
    device: 'flannel.1', vni: 1, port: 8472, mac: self.mac, localIP: self.ip, network: '10.244.0.0/16', subnetLen: 24,
    ownSubnet: self.subnet, mtu: 1450, peers: [{ subnet: peer.subnet, publicIP: peer.ip, mac: peer.mac }],
  };
}

/** Starts a userspace node (or the backend driver) in the host's namespace and waits for `ready`. */
async function startUserspace(self: Host, peer: Host, script = NODE_JS, arg: unknown = spec(self, peer)):
  Promise<{ proc: ChildProcessWithoutNullStreams; lines: () => string[] }> {
  const { proc, output } = await startAgent(nodes, self.ns, script, arg);
  return { proc, lines: () => output().split('\n').filter((l) => l !== '') };
}

const stopNode = (proc: ChildProcessWithoutNullStreams): Promise<Record<string, number>> => stopAgent(nodes, proc);

async function counters(proc: ChildProcessWithoutNullStreams): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const onData = (d: string): void => {
      const line = d.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        proc.stdout.off('data', onData);
        resolve(JSON.parse(line) as Record<string, number>);
      }
    };
    proc.stdout.on('data', onData);
    proc.stdin.write('counters\n');
  });
}

async function assertTraffic(label: string): Promise<void> {
  assert.ok(await pingOnce(A.pod, B.podIP), `${label}: ping A→B`);
  assert.ok(await pingOnce(B.pod, A.podIP), `${label}: ping B→A`);
  for (const [from, to] of [[A, B], [B, A]] as const) {
    const r = await tcpTransfer(from.pod, to.pod, to.podIP, 8 * 1024 * 1024);
    assert.equal(r.bytesReceived, r.bytesSent, `${label}: TCP ${from.ns}→${to.ns} byte count`);
    assert.equal(r.receivedSha256, r.sentSha256, `${label}: TCP ${from.ns}→${to.ns} bytes`);
  }
}

/** Fires random datagrams (random sizes, some VXLAN-looking) at host's VXLAN port from `fromNs`. */
async function fireJunk(fromNs: string, toIP: string, count: number): Promise<void> {
  const script = `
const d = require('node:dgram').createSocket('udp4'); const c = require('node:crypto');
let n = 0; const total = ${count};
const next = () => { if (n++ >= total) return d.close();
  const b = c.randomBytes(1 + c.randomInt(1500)); if (n % 3 === 0 && b.length > 8) { b[0] = 8; b[1] = b[2] = b[3] = 0; b[4] = b[5] = 0; b[6] = 1; }
  d.send(b, 8472, '${toIP}', next); };
next();`;
  await mustExec(inNetns(fromNs, [process.execPath, '-e', script]), { timeoutMs: 30_000 });
}

before(async () => {
  if (skip) return;
  await buildPodPair([A, B], `uv${TAG}`);
});

after(() => destroyPodPair([A, B], nodes));

test('userspace ↔ userspace: ping, TCP both ways, ICMP unreachable, peer leave/return, random datagrams', { skip: skip ?? false }, async () => {
  const a = await startUserspace(A, B);
  const b = await startUserspace(B, A);
  await assertTraffic('userspace↔userspace');

  // No peer owns 10.244.9.0/24: the sender hears "net unreachable" from that subnet's address at once.
  const unreachable = await execCommand(inNetns(A.pod, ['ping', '-n', '-c', '1', '-W', '2', '10.244.9.9']));
  assert.match(unreachable.stdout, /From 10\.244\.9\.0 .*Destination Net Unreachable/);

  // B's lease goes away and comes back while the loop runs.
  a.proc.stdin.write('peers []\n');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await pingOnce(A.pod, B.podIP, 1), false, 'no traffic to a removed peer');
  a.proc.stdin.write(`peers ${JSON.stringify(spec(A, B).peers)}\n`);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(await pingOnce(A.pod, B.podIP), 'traffic again once the peer is back');

  // Junk from the known peer's address and from an address that is no peer.
  await fireJunk(B.ns, A.ip, 3000);
  await mustExec(['ip', '-n', B.ns, 'addr', 'add', '192.0.2.77/24', 'dev', 'eth0']);
  const junkFromStranger = `
const d = require('node:dgram').createSocket('udp4'); d.bind({ address: '192.0.2.77' }, () => {
  let n = 0; const next = () => n++ < 200 ? d.send(Buffer.alloc(100, 8), 8472, '${A.ip}', next) : d.close(); next(); });`;
  await mustExec(inNetns(B.ns, [process.execPath, '-e', junkFromStranger]));
  await assertTraffic('after random datagrams');
  const c = await counters(a.proc);
  assert.ok(c.drop_unknown_source! >= 200, `unknown sources counted: ${JSON.stringify(c)}`);
  assert.ok(c.drop_bad_flags! + c.drop_bad_vni! + c.drop_not_our_mac! + c.drop_too_short! > 0, 'junk counted by reason');
  assert.ok(c.icmp_unreachable_sent! >= 1);

  await stopNode(a.proc);
  await stopNode(b.proc);
});

test('userspace ↔ kernel VXLAN configured as upstream flanneld does: ping and TCP both ways', { skip: skip ?? false }, async () => {
  // Pods keep their default tx checksum offload: the kernel peer then sends CHECKSUM_PARTIAL inner packets.
  const a = await startUserspace(A, B);
  await configureKernelVxlan(B, A);
  try {
    await assertTraffic('userspace↔kernel');
  } finally {
    await mustExec(['ip', '-n', B.ns, 'link', 'del', 'flannel.1']);
  }
  const c = await stopNode(a.proc);
  assert.ok(c.rx_packets! > 0 && c.tx_packets! > 0, JSON.stringify(c));
  // Trap 1 of datapath-ceilings.md really happened and was handled (the TCP transfers above verified the bytes).
  assert.ok(c.rx_partial_csum! > 0, `kernel peer sent CHECKSUM_PARTIAL packets: ${JSON.stringify(c)}`);
});

test('the vxlan backend on the userspace datapath: TUN, address, route, lease data, peers filtered, traffic with a kernel peer', { skip: skip ?? false }, async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `uvstate${TAG}`));
  try {
    const [link] = JSON.parse(await mustExec(['ip', '-n', A.ns, '-j', 'link', 'show', 'eth0'])) as { ifindex: number }[];
    const backendSpec: BackendNodeSpec = {
      iface: { name: 'eth0', index: link!.ifindex, mtu: 1500, addr: A.ip }, network: '10.244.0.0/16', subnetLen: 24,
      ownSubnet: A.subnet, stateDir, backend: { Type: 'vxlan' },
      peers: [
        { subnet: B.subnet, publicIP: B.ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: B.mac } },
        { subnet: '10.244.3.0/24', publicIP: '192.0.2.3', backendType: 'host-gw', backendData: null },
        { subnet: '10.244.4.0/24', publicIP: '192.0.2.4', backendType: 'vxlan', backendData: { VNI: 2, VtepMAC: '02:5a:00:00:00:04' } },
      ],
    };
    const a = await startUserspace(A, B, BACKEND_JS, backendSpec);
    const registration = JSON.parse(a.lines()[0]!) as { backendType: string; backendData: { VNI: number; VtepMAC: string }; mtu: number };
    assert.equal(registration.backendType, 'vxlan');
    assert.equal(registration.mtu, 1450);
    assert.equal(registration.backendData.VNI, 1);
    assert.equal(fs.readFileSync(path.join(stateDir, 'flannel.1.vtep-mac'), 'utf8').trim(), registration.backendData.VtepMAC);

    const details = await mustExec(['ip', '-n', A.ns, '-d', 'link', 'show', 'flannel.1']);
    assert.match(details, /mtu 1450/);
    assert.match(details, /\btun\b/);
    assert.match(details, /UP/);
    assert.match(await mustExec(['ip', '-n', A.ns, '-4', 'addr', 'show', 'dev', 'flannel.1']), /inet 10\.244\.1\.0\/32/);
    assert.match(await mustExec(['ip', '-n', A.ns, 'route', 'show', '10.244.0.0/16']), /10\.244\.0\.0\/16 dev flannel\.1/);

    await configureKernelVxlan(B, A, registration.backendData.VtepMAC);
    try {
      await assertTraffic('backend↔kernel');
    } finally {
      await mustExec(['ip', '-n', B.ns, 'link', 'del', 'flannel.1']);
    }
    const c = await counters(a.proc);
    assert.equal(c.peers, 1, 'only the vxlan lease with our VNI became a peer');
    assert.equal(c.ignored_leases, 2);
    await stopNode(a.proc);
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
    await execCommand(['ip', '-n', A.ns, 'link', 'del', 'flannel.1']);
  }
});

test('teardown of the userspace backend removes its TUN, address and route (a backend switch leaves nothing)', { skip: skip ?? false }, async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), `uvstate${TAG}`));
  try {
    const [link] = JSON.parse(await mustExec(['ip', '-n', A.ns, '-j', 'link', 'show', 'eth0'])) as { ifindex: number }[];
    const a = await startUserspace(A, B, BACKEND_JS, {
      iface: { name: 'eth0', index: link!.ifindex, mtu: 1500, addr: A.ip }, network: '10.244.0.0/16', subnetLen: 24,
      ownSubnet: A.subnet, stateDir, backend: { Type: 'vxlan' }, peers: [],
    } satisfies BackendNodeSpec);
    assert.match(await mustExec(['ip', '-n', A.ns, 'route', 'show', '10.244.0.0/16']), /dev flannel\.1/);
    const exited = new Promise<void>((resolve) => a.proc.once('exit', () => resolve()));
    a.proc.stdin.write('teardown\n');
    await exited;
    nodes.delete(a.proc);
    assert.ok(a.lines().includes('torn down'), a.lines().join('\n'));
    assert.notEqual((await execCommand(['ip', '-n', A.ns, 'link', 'show', 'flannel.1'])).code, 0, 'flannel.1 is gone');
    assert.equal(await mustExec(['ip', '-n', A.ns, 'route', 'show', '10.244.0.0/16']), '');
  } finally {
    fs.rmSync(stateDir, { recursive: true, force: true });
    await execCommand(['ip', '-n', A.ns, 'link', 'del', 'flannel.1']);
  }
});
