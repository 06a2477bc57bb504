// The shipped unit: systemd-analyze accepts it, it keeps the RPM unit's shape, and its ExecStart expands the
// sysconfig variables as the RPM's flanneld-start does (empty and unset values included).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const readSystemd = (name: string): string => fs.readFileSync(path.join(ROOT, 'systemd', name), 'utf8');
const UNIT = readSystemd('tsflanneld.service');
const HARDENED = readSystemd('tsflanneld-hardened.service');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

/** `Key=value` settings of the unit, continuation lines joined as systemd joins them. */
function settings(text: string): Array<[string, string]> {
  return text.replace(/\\\n/g, ' ').split('\n').flatMap((l) => {
    const m = /^([A-Za-z]+)=(.*)$/.exec(l);
    return m ? [[m[1] as string, m[2] as string] as [string, string]] : [];
  });
}
const get = (key: string, text = UNIT): string[] => settings(text).filter(([k]) => k === key).map(([, v]) => v);

test('the unit keeps the RPM flanneld.service shape', () => {
  assert.deepEqual(get('Type'), ['notify']);
  assert.deepEqual(get('Restart'), ['on-failure']);
  assert.deepEqual(get('After'), ['network.target network-online.target etcd.service']);
  assert.deepEqual(get('Wants'), ['network-online.target']);
  assert.deepEqual(get('Before'), ['docker.service']);
  assert.deepEqual(get('RequiredBy'), ['docker.service']);
  assert.deepEqual(get('WantedBy'), ['multi-user.target']);
  assert.deepEqual(get('EnvironmentFile'), ['-/etc/sysconfig/flanneld', '-/etc/sysconfig/docker-network']);
  assert.deepEqual(get('ExecStartPost'), ['/usr/bin/tsflanneld mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker']);
});

const hasAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;

for (const [name, text] of [['tsflanneld.service', UNIT], ['tsflanneld-hardened.service', HARDENED]] as const) {
  test(`systemd-analyze verify passes for ${name}`, { skip: hasAnalyze ? false : 'systemd-analyze is not installed' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-unit-'));
    try {
      // verify insists that executables exist: point the unit at the built CLI instead of the install path.
      const bin = path.join(dir, 'tsflanneld');
      fs.copyFileSync(CLI, bin);
      fs.chmodSync(bin, 0o755);
      const unit = path.join(dir, 'tsflanneld.service');
      fs.writeFileSync(unit, text.replaceAll('/usr/bin/tsflanneld', bin));
      const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'no warnings');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the hardened unit is the plain unit plus sandbox settings: nothing of it changed or dropped', () => {
  const hardened = settings(HARDENED).map(([k, v]) => `${k}=${v}`);
  for (const [k, v] of settings(UNIT)) assert.ok(hardened.includes(`${k}=${v}`), `${k}=${v} is kept`);
});

test('the hardened unit runs as a non-root user with CAP_NET_ADMIN and CAP_NET_RAW only, and /dev/net/tun', () => {
  const h = (key: string): string[] => get(key, HARDENED);
  assert.deepEqual(h('User'), ['tsflanneld']);
  assert.deepEqual(h('Group'), ['tsflanneld']);
  assert.deepEqual(h('AmbientCapabilities'), ['CAP_NET_ADMIN CAP_NET_RAW']);
  assert.deepEqual(h('CapabilityBoundingSet'), ['CAP_NET_ADMIN CAP_NET_RAW']);
  assert.deepEqual(h('NoNewPrivileges'), ['yes']);
  assert.deepEqual(h('DevicePolicy'), ['closed']);
  assert.deepEqual(h('DeviceAllow'), ['/dev/net/tun rw']);
  assert.deepEqual(h('ProtectSystem'), ['strict']);
  // The daemon's default paths are exactly the directories the unit hands to the user.
  assert.deepEqual(h('RuntimeDirectory'), ['flannel']);
  assert.deepEqual(h('RuntimeDirectoryPreserve'), ['yes']);
  assert.deepEqual(h('StateDirectory'), ['tsflanneld']);
  const help = spawnSync(process.execPath, [CLI, 'run', '--help'], { encoding: 'utf8' }).stdout;
  assert.match(help, /--subnet-file .*\(default: "\/run\/flannel\/subnet\.env"\)/);
  assert.match(help, /--state-dir .*\(default: "\/var\/lib\/tsflanneld"\)/);
  // The TUN group rule and the sysusers line name the unit's group and user.
  assert.match(readSystemd('60-tsflanneld-tun.rules'), /^KERNEL=="tun", GROUP="tsflanneld", MODE="0660"$/m);
  assert.match(readSystemd('tsflanneld.sysusers'), /^u tsflanneld - .* \/var\/lib\/tsflanneld /m);
});

/** Runs ExecStart's shell command with a stand-in tsflanneld that prints its arguments, one per line. */
function execStartArgs(env: Record<string, string>): string[] {
  const [execStart] = get('ExecStart');
  const m = /^\/bin\/sh -c '(.*)'$/.exec((execStart ?? '').trim());
  assert.ok(m, `ExecStart is a /bin/sh -c '…' command: ${execStart}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-exec-'));
  try {
    const fake = path.join(dir, 'tsflanneld');
    fs.writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
    // systemd turns `$$` into `$` before running the command.
    const script = (m[1] as string).replaceAll('$$', '$').replaceAll('/usr/bin/tsflanneld', fake);
    const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('ExecStart passes the sysconfig values and splits FLANNEL_OPTIONS', () => {
  assert.deepEqual(execStartArgs({ FLANNEL_ETCD_ENDPOINTS: 'http://192.0.2.5:2379', FLANNEL_ETCD_PREFIX: '/atomic.io/network',
    FLANNEL_OPTIONS: '-iface=eth1  -ip-masq' }),
  ['-etcd-endpoints=http://192.0.2.5:2379', '-etcd-prefix=/atomic.io/network', '-iface=eth1', '-ip-masq']);
});

test('ExecStart falls back to FLANNEL_ETCD / FLANNEL_ETCD_KEY, then to flanneld\'s defaults, for empty values', () => {
  assert.deepEqual(execStartArgs({ FLANNEL_ETCD: 'http://192.0.2.6:2379', FLANNEL_ETCD_KEY: '/old/prefix', FLANNEL_ETCD_ENDPOINTS: '' }),
    ['-etcd-endpoints=http://192.0.2.6:2379', '-etcd-prefix=/old/prefix']);
  assert.deepEqual(execStartArgs({}),
    ['-etcd-endpoints=http://127.0.0.1:4001,http://127.0.0.1:2379', '-etcd-prefix=/coreos.com/network']);
});

test('reload re-executes in place and restarts keep the datapath fds (issue 22)', () => {
  for (const text of [UNIT, HARDENED]) {
    assert.deepEqual(get('ExecReload', text), ['/bin/kill -HUP $MAINPID']);
    // The re-executed program is the same PID: its READY=1 after RELOADING=1 is accepted from the main process.
    assert.deepEqual(get('NotifyAccess', text), ['main']);
    const max = Number(get('FileDescriptorStoreMax', text)[0]);
    assert.ok(max >= 2 * (4 + 4 + 8), `FileDescriptorStoreMax=${max} holds 4 queues, their sockets and 8 senders`);
  }
});
