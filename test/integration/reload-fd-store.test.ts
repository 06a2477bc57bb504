// What the daemon tells systemd around a reload and for its fd store, as received on a real $NOTIFY_SOCKET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { NotifyListener } from '../support/notify-listener.js';
import { log } from '../../src/log.js';
import { notifyReloading } from '../../src/ops/sd-notify.js';
import { forgetDatapathFds, storeDatapathFds } from '../../src/reload/fd-store.js';

const skip = spawnSync('sh', ['-c', 'command -v python3'], { stdio: 'ignore' }).status === 0 ? false : 'needs python3 for the test socket';

test('RELOADING=1 carries MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd wants)', { skip }, async () => {
  const listener = await NotifyListener.start('/nonexistent');
  const saved = process.env.NOTIFY_SOCKET;
  process.env.NOTIFY_SOCKET = listener.socketPath;
  try {
    const before = process.hrtime.bigint() / 1000n;
    assert.equal(notifyReloading(), true);
    const m = /^RELOADING=1\nSTATUS=Reloading\nMONOTONIC_USEC=(\d+)$/.exec((await listener.waitFor('RELOADING=1')).data);
    assert.ok(m, 'RELOADING=1 with STATUS and MONOTONIC_USEC');
    assert.ok(BigInt(m[1]!) >= before);
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
    await listener.stop();
  }
});

test('each datapath fd goes to the fd store under its own name, replacing an older one; forgetting removes them', { skip }, async () => {
  const listener = await NotifyListener.start('/nonexistent', `@tsf-fdstore-${process.pid}`);
  const fds = ['/dev/null', '/dev/zero', '/dev/null'].map((p) => fs.openSync(p, 'r'));
  try {
    assert.equal(storeDatapathFds('flannel.1', { tunFds: [fds[0]!], udpFds: [fds[1]!], sendFds: [fds[2]!] }, log,
      listener.socketPath), true);
    forgetDatapathFds('flannel.1', { tunFds: [fds[0]!], udpFds: [fds[1]!], sendFds: [fds[2]!] }, listener.socketPath);
    await listener.waitFor('FDSTOREREMOVE=1\nFDNAME=flannel.1-state-0', 10_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(listener.messages.map((m) => m.data), [
      'FDSTOREREMOVE=1\nFDNAME=flannel.1-tun-0', 'FDSTORE=1\nFDNAME=flannel.1-tun-0',
      'FDSTOREREMOVE=1\nFDNAME=flannel.1-udp-0', 'FDSTORE=1\nFDNAME=flannel.1-udp-0',
      'FDSTOREREMOVE=1\nFDNAME=flannel.1-send-0', 'FDSTORE=1\nFDNAME=flannel.1-send-0',
      'FDSTOREREMOVE=1\nFDNAME=flannel.1-tun-0', 'FDSTOREREMOVE=1\nFDNAME=flannel.1-udp-0', 'FDSTOREREMOVE=1\nFDNAME=flannel.1-send-0',
      'FDSTOREREMOVE=1\nFDNAME=flannel.1-state-0',
    ]);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
    await listener.stop();
  }
});

test('without NOTIFY_SOCKET nothing is stored', () => {
  assert.equal(storeDatapathFds('flannel.1', { tunFds: [0], udpFds: [0], sendFds: [0] }, log, ''), false);
});
