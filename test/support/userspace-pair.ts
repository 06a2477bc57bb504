// Two testbed hosts on the userspace vxlan datapath with one container each, pinging both ways: the start of the
// reload and fd-store restart tests. Host 2's arguments and launcher are the case's (a reload watcher, an fd store),
// and may depend on host 2 (its subnet file), so they are asked for once the hosts exist.
import { Testbed, type Container, type Host } from './testbed.js';

export const USERSPACE_ARGS: readonly string[] = ['--vxlan-datapath', 'userspace'];

export interface UserspacePair {
  readonly tb: Testbed;
  readonly h2: Host;
  readonly c1: Container;
  readonly c2: Container;
}

export interface UserspacePairOptions {
  /** Host 2's daemon: extra arguments and launcher prefix (default: USERSPACE_ARGS, none). */
  readonly h2?: (h2: Host) => Promise<{ readonly args: readonly string[]; readonly launcher?: readonly string[] }>;
}

/** Network 10.0.0.0/16 with vxlan; both daemons running, a container `c1` on each, pings answered both ways. */
export async function startUserspacePair(o: UserspacePairOptions = {}): Promise<UserspacePair> {
  const tb = await Testbed.create({ hosts: 2 });
  try {
    await tb.putConfig({ Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: 'vxlan' } });
    const h2 = tb.host(2);
    const second = o.h2 ? await o.h2(h2) : { args: USERSPACE_ARGS };
    tb.startDaemon(tb.host(1), USERSPACE_ARGS);
    tb.startDaemon(h2, second.args, second.launcher ?? []);
    for (const h of tb.hosts) await tb.waitForSubnetEnv(h);
    // tx checksum offload off: the userspace datapath's interop needs it (datapath-ceilings.md Trap 1).
    const c1 = await tb.addContainer(tb.host(1), 'c1', { txChecksumOff: true });
    const c2 = await tb.addContainer(h2, 'c1', { txChecksumOff: true });
    await tb.waitForPing(c1, c2.ip);
    await tb.waitForPing(c2, c1.ip);
    return { tb, h2, c1, c2 };
  } catch (err) {
    await tb.destroy();
    throw err;
  }
}
