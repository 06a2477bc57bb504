// Issue 20 item 7: signals. SIGTERM while etcd is frozen (SIGSTOP: every call hangs until its deadline) must end the
// daemon promptly with status 0 and leave the lease in etcd as it is; SIGHUP never ends it (it reloads the daemon in
// place, as test/e2e/reload.test.ts shows, or is ignored while starting).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../support/proc.js';
import { Lab, labUnavailable } from '../support/daemon-lab.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';
/**
 * Generous against the aim of about a second, and still missed by the old daemon: it waited 4 s for a watch cancel
 * that a frozen etcd never answers, and 10-12.5 s when the signal came during start-up (an etcd call running into
 * its 5 s deadline, retried once, before its shutdown deadline was even armed).
 */
const EXIT_DEADLINE_MS = 3000;
const skip = labUnavailable();

/** Resolves to the exit code, or to 'still running' once `ms` passed. */
function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([exited, sleep(ms).then(() => 'still running' as const)]);
}

describe('signals', { skip: skip ?? false, timeout: 120_000 }, () => {
  let lab: Lab;

  /** SIGTERMs `d` and asserts it exits 0 within EXIT_DEADLINE_MS; etcd is thawed afterwards whatever happened. */
  async function sigtermWhileFrozen(d: { child: { kill(s: NodeJS.Signals): boolean }; exited: Promise<number | null>; output: string }): Promise<void> {
    try {
      d.child.kill('SIGTERM');
      const code = await exitWithin(d.exited, EXIT_DEADLINE_MS);
      assert.equal(code, 0, `no clean exit within ${EXIT_DEADLINE_MS} ms of SIGTERM:\n${d.output.slice(-3000)}`);
    } finally {
      lab.etcd.thaw();
    }
  }

  before(async () => {
    lab = await Lab.create(2);
    await lab.etcdctl(['put', '/coreos.com/network/config', CONFIG]);
  });

  after(async () => {
    lab?.etcd.thaw();
    await lab?.destroy();
  });

  it('SIGHUP is logged and does not end the daemon', async () => {
    const d = lab.startDaemon({ name: 'hup', ip: lab.ips[0] as string });
    await lab.subnetEnvOf(d);
    d.child.kill('SIGHUP');
    await waitFor(() => logRecords(d.output).some((r) => /SIGHUP/.test(String(r.msg))),
      { what: 'a log line about SIGHUP', timeoutMs: 10_000 })
      .catch((e: Error) => { throw new Error(`${e.message}\n${d.output}`); });
    await sleep(1000);
    assert.equal(d.child.exitCode, null, `SIGHUP ended the daemon:\n${d.output}`);
    assert.equal(d.child.signalCode, null, `SIGHUP ended the daemon:\n${d.output}`);
    assert.equal(await lab.terminate(d), 0);
    assert.deepEqual(stackTraces(d.output), []);
  });

  it('exits 0 soon after SIGTERM while etcd is frozen, leaving the lease as it is', async () => {
    const d = lab.startDaemon({ name: 'frozen', ip: lab.ips[1] as string });
    await lab.subnetEnvOf(d);
    await waitFor(() => d.output.includes('"running"'), { what: 'the daemon to run', timeoutMs: 10_000 });
    const before = await lab.kvs('/coreos.com/network/subnets/');
    assert.ok(before.size >= 1);
    lab.etcd.freeze();
    // Let the client notice: a renewal or a watch ping in flight is what a real SIGTERM meets too.
    await sleep(1500);
    await sigtermWhileFrozen(d);
    assert.deepEqual(await lab.kvs('/coreos.com/network/subnets/'), before, 'the lease was changed on the way out');
    assert.deepEqual(stackTraces(d.output), []);
  });

  it('exits 0 soon after SIGTERM during a start-up that waits on a frozen etcd', async () => {
    lab.etcd.freeze();
    const d = lab.startDaemon({ name: 'early', ip: lab.ips[0] as string });
    await waitFor(() => d.output.includes('etcd client created'), { what: 'the daemon to reach etcd', timeoutMs: 10_000 });
    await sleep(1000);
    await sigtermWhileFrozen(d);
    assert.deepEqual(stackTraces(d.output), []);
  });
});
