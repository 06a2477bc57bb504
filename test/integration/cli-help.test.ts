// What an operator sees when asking the built CLI for help: upstream's defaults for every daemon flag, the common
// flags at the top level, and mk-docker-opts answering -h like the script (usage on stderr, exit status 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The installed command (it runs the bundle).
const CLI = path.resolve(__dirname, '..', '..', 'src', 'tsflanneld.js');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The help line of a flag, whitespace collapsed. */
function flagLine(help: string, flag: string): string {
  const line = help.split('\n').find((l) => new RegExp(`^\\s+${flag}[\\s[]`).test(l));
  assert.ok(line, `${flag} is listed:\n${help}`);
  return line.trim().replace(/\s+/g, ' ');
}

// flanneld's defaults (flannel-compat §9), written out here rather than read from src/options.ts.
const UPSTREAM_DEFAULTS: ReadonlyArray<[string, string]> = [
  ['--etcd-endpoints', '"http://127.0.0.1:4001,http://127.0.0.1:2379"'],
  ['--etcd-prefix', '"/coreos.com/network"'],
  ['--subnet-file', '"/run/flannel/subnet.env"'],
  ['--subnet-lease-renew-margin', '60'],
  ['--ip-masq', 'false'],
  ['--ip-masq-fully-random-disable', 'false'],
  ['--iptables-resync', '5'],
  ['--iptables-forward-rules', 'true'],
  ['--ip-blackhole-route', 'false'],
  ['--healthz-ip', '"0.0.0.0"'],
  ['--healthz-port', '0'],
  ['--kube-subnet-mgr', 'false'],
];

test('run --help shows upstream\'s default of every flag that has one', () => {
  const r = cli('run', '--help');
  assert.equal(r.code, 0, r.stderr);
  for (const [flag, value] of UPSTREAM_DEFAULTS) {
    assert.ok(flagLine(r.stdout, flag).endsWith(`(default: ${value})`), `${flag} shows (default: ${value}): ${flagLine(r.stdout, flag)}`);
  }
  assert.doesNotMatch(flagLine(r.stdout, '--etcd-keyfile'), /default/, 'an empty default is not shown');
  assert.match(flagLine(r.stdout, '--ip-masq'), /^--ip-masq\[=<bool>\] /, 'a bool reads as Go\'s: bare means true');
  assert.match(r.stdout, /FLANNELD_ETCD_ENDPOINTS/, 'the environment variables are mentioned');
});

test('the top-level --help names the common daemon flags with their defaults', () => {
  const r = cli('--help');
  assert.equal(r.code, 0, r.stderr);
  assert.match(flagLine(r.stdout, '--etcd-endpoints'), /\(default: "http:\/\/127\.0\.0\.1:4001,http:\/\/127\.0\.0\.1:2379"\)$/);
  assert.match(flagLine(r.stdout, '--etcd-prefix'), /\(default: "\/coreos\.com\/network"\)$/);
  assert.match(flagLine(r.stdout, '--subnet-file'), /\(default: "\/run\/flannel\/subnet\.env"\)$/);
  for (const flag of ['--iface', '--public-ip', '--ip-masq', '--healthz-port']) flagLine(r.stdout, flag);
  assert.match(r.stdout, /tsflanneld run --help/);
});

test('mk-docker-opts -h and --help print the script\'s usage on stderr and exit 1, writing nothing', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-mkdo-'));
  try {
    const out = path.join(dir, 'docker_opts.env');
    for (const flag of ['-h', '--help']) {
      const r = cli('mk-docker-opts', '-d', out, flag);
      assert.equal(r.code, 1, flag);
      assert.equal(r.stdout, '');
      assert.ok(r.stderr.startsWith('tsflanneld mk-docker-opts [-f FLANNEL-ENV-FILE] [-d DOCKER-ENV-FILE] [-i] [-c] [-m] [-k COMBINED-KEY]\n\n'),
        r.stderr);
      const options = r.stderr.split('\n').filter((l) => l.startsWith('\t')).map((l) => l.split('\t')[1]);
      assert.deepEqual(options, ['-f', '-d', '-i', '-c', '-k', '-m']);
      assert.match(r.stderr, /\t-f\t.*\/run\/flannel\/subnet\.env/);
      assert.match(r.stderr, /\t-d\t.*\/run\/docker_opts\.env/);
      assert.equal(fs.existsSync(out), false, 'no options file written');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('mk-docker-opts with an unknown option names it, prints the usage and exits 1', () => {
  const r = cli('mk-docker-opts', '-x');
  assert.equal(r.code, 1);
  const [first, second] = r.stderr.split('\n');
  assert.equal(first, 'tsflanneld: error: unknown option \'-x\'');
  assert.match(second ?? '', /^tsflanneld mk-docker-opts \[-f FLANNEL-ENV-FILE\]/);
});
