// Checks the e2e tests make of a running testbed: hashed TCP both ways between two containers, and the daemon's
// counters as `status --json` prints them.
import assert from 'node:assert/strict';
import { CLI_JS, poll, type Container, type Host, type Testbed } from './testbed.js';

/** TCP a → b and b → a carrying `bytes` each, every byte arriving as sent. */
export async function tcpBothWays(tb: Testbed, a: Container, b: Container, what: string, bytes: number): Promise<void> {
  for (const [from, to] of [[a, b], [b, a]] as Array<[Container, Container]>) {
    const t = await tb.tcpTransfer(from, to, bytes);
    assert.equal(t.bytesReceived, bytes, `${what}: ${from.netns} → ${to.ip}`);
    assert.equal(t.receivedSha256, t.sentSha256, `${what}: ${from.netns} → ${to.ip}`);
  }
}

/** The daemon's counters from `status --json` once `ready` holds for them (the status file follows its changes). */
export function countersWhen(tb: Testbed, h: Host, ready: (c: Record<string, number>) => boolean): Promise<Record<string, number>> {
  return poll(`${h.name}: status counters`, async () => {
    const r = await tb.exec(h, [process.execPath, CLI_JS, 'status', '--json', ...tb.daemonArgs(h)]);
    const c = (JSON.parse(r.stdout) as { daemon: { counters: Record<string, number> } }).daemon.counters;
    return ready(c) ? c : null;
  }, 30_000, 500);
}
