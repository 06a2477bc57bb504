// The userspace datapath keeps going without the daemon's help (issue 5): a TUN deleted under the loops is noticed by
// the loops themselves (EBADFD), reported once through onTunLost and reopened, with no error storm meanwhile; a loop
// thread killed is restarted, logged as an error and counted; a TUN left by an earlier run is taken over in the queue
// mode it was made with. The daemon-level cases are in vxlan-mixed.test.ts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import test from 'node:test';
import { createNetns, mustExec, removeNetns } from '../support/netns.js';
import { poll } from '../support/testbed.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const NS = `tsfrob${randomBytes(2).toString('hex')}`;
const NODE_JS = path.join(__dirname, '..', 'support', 'agents', 'tun-loss-node.js');

function unavailable(): string | null {
  return missingPrerequisite({ tun: true });
}

/** A running tun-loss-node: its output so far, its counters on demand, and its end. */
interface NodeRun {
  readonly out: () => string;
  readonly err: () => string;
  counters(): Promise<Record<string, number>>;
  send(line: string): void;
  stop(): Promise<void>;
  kill(): void;
}

async function startNode(ns: string, spec: object = {}): Promise<NodeRun> {
  const proc: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', ns, process.execPath, NODE_JS, JSON.stringify(spec)]);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const run: NodeRun = {
    out: () => out,
    err: () => err,
    counters: async () => {
      const before = out.length;
      proc.stdin.write('counters\n');
      const line = await poll('counters', () => out.slice(before).split('\n').find((l) => l.startsWith('{')), 5000, 20);
      return JSON.parse(line) as Record<string, number>;
    },
    send: (line) => { proc.stdin.write(`${line}\n`); },
    stop: async () => {
      proc.stdin.end();
      await new Promise<void>((resolve) => { if (proc.exitCode !== null) resolve(); else proc.once('exit', () => resolve()); });
    },
    kill: () => {
      if (proc.exitCode === null && proc.pid !== undefined) {
        try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    },
  };
  await poll(`ready (stderr: ${err})`, () => out.includes('ready\n') || proc.exitCode !== null, 10_000, 20);
  assert.ok(out.includes('ready\n'), `the node did not start: ${err}`);
  return run;
}

test('a deleted TUN is reopened through the loops; a killed loop thread is restarted and counted', { skip: unavailable() ?? false, timeout: 60_000 }, async () => {
  await createNetns(NS);
  let node: NodeRun | null = null;
  try {
    node = await startNode(NS);
    const n = node;
    await mustExec(['ip', '-n', NS, 'link', 'del', 'flannel.1']);
    await poll('reopened', () => n.out().includes('reopened\n') || n.out().includes('reopen failed'), 10_000, 20);
    assert.ok(!n.out().includes('reopen failed'), n.out());
    assert.equal(n.out().split('\n').filter((l) => l === 'lost').length, 1, 'the loss is reported once');
    assert.match(await mustExec(['ip', '-n', NS, 'link', 'show', 'flannel.1']), /UP/);
    let c = await n.counters();
    assert.equal(c.tun_reopened, 1);
    assert.equal(c.loop_restarts, 0, 'loops that found the TUN gone waited for it, they were not restarted');
    assert.equal(n.err().split('\n').filter((l) => l.includes('"level":50')).length, 0, n.err());

    n.send('crash queue0');
    await poll('loop_restarts 1', async () => ((await n.counters()).loop_restarts === 1 ? true : null), 10_000, 50);
    c = await n.counters();
    assert.equal(c.tun_reopened, 1);
    const errors = n.err().split('\n').filter((l) => l.includes('"level":50'));
    assert.equal(errors.length, 1, n.err());
    assert.match(errors[0]!, /datapath queue0 loop died/);
    // The restarted loop is a working one: a second deletion is still noticed.
    await mustExec(['ip', '-n', NS, 'link', 'del', 'flannel.1']);
    await poll('reopened twice', async () => ((await n.counters()).tun_reopened === 2 ? true : null), 10_000, 50);
    await n.stop();
  } finally {
    node?.kill();
    await removeNetns(NS);
  }
});

// flannel.1 is persistent (a restart keeps its address and routes), and the kernel attaches a queue only in the mode
// the device was made with: a single-queue TUN from an earlier version is served by one loop, a multi-queue one with
// as many queues as asked for. Either way the node starts, rather than failing with EINVAL.
test('a TUN left by an earlier run is taken over in its queue mode: single-queue with one loop, multi-queue with the loops asked for', { skip: unavailable() ?? false, timeout: 60_000 }, async () => {
  await createNetns(NS);
  let node: NodeRun | null = null;
  try {
    await mustExec(['ip', '-n', NS, 'tuntap', 'add', 'dev', 'flannel.1', 'mode', 'tun', 'vnet_hdr']);
    node = await startNode(NS, { loops: 3 });
    assert.equal((await node.counters()).queues, 1);
    assert.match(node.err(), /exists with one queue from an earlier run/);
    await node.stop();
    await mustExec(['ip', '-n', NS, 'link', 'del', 'flannel.1']);

    await mustExec(['ip', '-n', NS, 'tuntap', 'add', 'dev', 'flannel.1', 'mode', 'tun', 'vnet_hdr', 'multi_queue']);
    node = await startNode(NS, { loops: 3 });
    assert.equal((await node.counters()).queues, 3);
    assert.match(await mustExec(['ip', '-d', '-n', NS, 'link', 'show', 'flannel.1']), /multi_queue/);
    await node.stop();
  } finally {
    node?.kill();
    await removeNetns(NS);
  }
});
