// Issue 20 item 10: the daemon as the hardened unit runs it: a non-root uid with only CAP_NET_ADMIN and CAP_NET_RAW
// (ambient), owning its subnet-file and state directories, and for the userspace datapath a /dev/net/tun it may open
// by group only. h1's daemon runs so, h2's as root; containers behind both must reach each other on host-gw and on
// both vxlan datapaths. The TUN node is private to h1's daemon: `ip netns exec` gives it its own mount namespace,
// where a tmpfs holds a 0660 root:<gid> node bind-mounted over /dev/net/tun; the host's device is left alone.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { testbedUnavailable } from '../support/prerequisites.js';
import { CLI_JS, Testbed, type Container, type Host } from '../support/testbed.js';
import { DAEMON_DATAPATHS, datapathNetwork } from '../support/datapaths.js';

const UID = 65534;
/** CAP_NET_ADMIN (12) and CAP_NET_RAW (13). */
const NET_CAPS = ((1n << 12n) | (1n << 13n)).toString(16).padStart(16, '0');
/**
 * The first directory on the way to `file` that another user cannot pass (no `x` for others), or null. A checkout
 * under such a directory (e.g. one made by `mktemp -d`, 0700) cannot be run by the unprivileged user at all; an
 * install under /usr or /opt can.
 */
function closedToOthers(file: string): string | null {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return dir;
    if (dir === path.dirname(dir)) return null;
  }
}

const closed = closedToOthers(CLI_JS);
const skip = testbedUnavailable() ?? (fs.existsSync('/usr/bin/setpriv') ? null : 'needs setpriv (util-linux)')
  ?? (closed === null ? null : `uid ${UID} cannot reach the program: ${closed} is closed to other users `
    + '(a mktemp -d parent?); run the tests from a checkout other users can traverse');

const DATAPATHS = DAEMON_DATAPATHS;

/** A shell that gives the daemon a group-only TUN node, then execs it as UID with the two capabilities. */
function unprivileged(tunDir: string): string[] {
  const script = [
    'set -e',
    `mount -t tmpfs -o size=16k,mode=0755 tsfl-tun ${tunDir}`,
    `mknod -m 0660 ${tunDir}/tun c 10 200`,
    `chgrp ${UID} ${tunDir}/tun`,
    `mount --bind ${tunDir}/tun /dev/net/tun`,
    `exec setpriv --reuid=${UID} --regid=${UID} --clear-groups --inh-caps=+net_admin,+net_raw --ambient-caps=+net_admin,+net_raw "$@"`,
  ].join('\n');
  return ['sh', '-c', script, 'unprivileged'];
}

/** A field of /proc/<pid>/status. */
function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] ?? '';
}

for (const dp of DATAPATHS) describe(`unprivileged daemon (${dp.name})`, { skip: skip ?? false, timeout: 150_000 }, () => {
  let tb: Testbed;
  let c1: Container;
  let c2: Container;

  before(async () => {
    tb = await Testbed.create({ hosts: 2, config: datapathNetwork(dp) });
    const [h1, h2] = tb.hosts as [Host, Host];
    // The testbed's temp dirs are root's (0700); the daemon's own directories become the user's, as the unit's
    // RuntimeDirectory= and StateDirectory= make them.
    fs.chmodSync(tb.dir, 0o755);
    const tunDir = path.join(path.dirname(h1.subnetFile), 'tun');
    fs.mkdirSync(h1.stateDir, { recursive: true });
    fs.mkdirSync(tunDir, { recursive: true });
    fs.chownSync(path.dirname(h1.subnetFile), UID, UID);
    fs.chownSync(h1.stateDir, UID, UID);
    tb.startDaemon(h1, dp.daemonArgs, unprivileged(tunDir));
    tb.startDaemon(h2, dp.daemonArgs);
    await tb.waitForSubnetEnv(h1);
    await tb.waitForSubnetEnv(h2);
    c1 = await tb.addContainer(h1, 'c1', { txChecksumOff: true });
    c2 = await tb.addContainer(h2, 'c2', { txChecksumOff: true });
  });

  after(async () => {
    await tb?.destroy();
  });

  it('runs as the user with CAP_NET_ADMIN and CAP_NET_RAW only, and carries traffic both ways', () => tb.explainFailure(async () => {
    const pid = tb.host(1).daemon?.pid as number;
    assert.equal(statusField(pid, 'Uid').split(/\s+/)[1], String(UID), 'effective uid');
    assert.equal(statusField(pid, 'CapEff'), NET_CAPS);
    assert.equal(statusField(pid, 'CapAmb'), NET_CAPS);
    await tb.waitForPing(c1, c2.ip);
    await tb.waitForPing(c2, c1.ip);
  }));
});
