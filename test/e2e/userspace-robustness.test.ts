// The userspace datapath keeps going without the daemon's help (issue 5): a TUN deleted under the loops is noticed by
// the loops themselves (EBADFD), reported once through onTunLost and reopened, with no error storm meanwhile; a loop
// thread killed is restarted, logged as an error and counted. The daemon-level cases are in vxlan-mixed.test.ts.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'node:test';
import { createNetns, mustExec, removeNetns } from '../harness/netns.js';
import { poll } from '../harness/testbed.js';

const NS = `tsfrob${randomBytes(2).toString('hex')}`;
const NODE_JS = path.join(__dirname, 'support', 'tun-loss-node.js');
const ADDON = path.join(__dirname, '..', '..', '..', 'build', 'Release', 'tsflanneld_native.node');

function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (creates a network namespace)';
  if (!fs.existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  if (!fs.existsSync(ADDON)) return `needs the native addon ${ADDON} (npm ci)`;
  return null;
}

test('a deleted TUN is reopened through the loops; a killed loop thread is restarted and counted', { skip: unavailable() ?? false, timeout: 60_000 }, async () => {
  await createNetns(NS);
  let proc: ChildProcessWithoutNullStreams | null = null;
  try {
    proc = spawn('ip', ['netns', 'exec', NS, process.execPath, NODE_JS]);
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const p = proc;
    const counters = async (): Promise<Record<string, number>> => {
      const before = out.length;
      p.stdin.write('counters\n');
      const line = await poll('counters', () => out.slice(before).split('\n').find((l) => l.startsWith('{')), 5000, 20);
      return JSON.parse(line) as Record<string, number>;
    };
    await poll('ready', () => out.includes('ready\n'), 10_000, 20);

    await mustExec(['ip', '-n', NS, 'link', 'del', 'flannel.1']);
    await poll('reopened', () => out.includes('reopened\n') || out.includes('reopen failed'), 10_000, 20);
    assert.ok(!out.includes('reopen failed'), out);
    assert.equal(out.split('\n').filter((l) => l === 'lost').length, 1, 'the loss is reported once');
    assert.match(await mustExec(['ip', '-n', NS, 'link', 'show', 'flannel.1']), /UP/);
    let c = await counters();
    assert.equal(c.tun_reopened, 1);
    assert.equal(c.loop_restarts, 0, 'loops that found the TUN gone waited for it, they were not restarted');
    assert.equal(err.split('\n').filter((l) => l.includes('"level":50')).length, 0, err);

    p.stdin.write('crash rx\n');
    await poll('loop_restarts 1', async () => ((await counters()).loop_restarts === 1 ? true : null), 10_000, 50);
    c = await counters();
    assert.equal(c.tun_reopened, 1);
    const errors = err.split('\n').filter((l) => l.includes('"level":50'));
    assert.equal(errors.length, 1, err);
    assert.match(errors[0]!, /datapath rx loop died/);
    // The restarted loop is a working one: a second deletion is still noticed.
    await mustExec(['ip', '-n', NS, 'link', 'del', 'flannel.1']);
    await poll('reopened twice', async () => ((await counters()).tun_reopened === 2 ? true : null), 10_000, 50);
    p.stdin.end();
    await new Promise<void>((resolve) => { if (p.exitCode !== null) resolve(); else p.once('exit', () => resolve()); });
  } finally {
    if (proc?.exitCode === null && proc.pid !== undefined) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await removeNetns(NS);
  }
});
