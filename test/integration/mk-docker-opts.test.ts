import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  MK_DOCKER_OPTS_DEFAULTS, conflictingRoutes, parseEnvFile, renderDockerOpts, runMkDockerOpts, subnetOfFlannelSubnet,
} from '../../src/ops/mk-docker-opts.js';

const ENV = 'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\n';
const base = MK_DOCKER_OPTS_DEFAULTS;

function render(envText: string, opts: Partial<typeof base> = {}, env: Record<string, string> = {}): string {
  const r = renderDockerOpts({ ...base, ...opts }, { ...env, ...parseEnvFile(envText) });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.text;
}

test('FLANNEL_IPMASQ=false gives --ip-masq=true (inverted), in set order, combined line with a leading space', () => {
  assert.equal(render(`${ENV}FLANNEL_IPMASQ=false\n`),
    'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\n'
    + 'DOCKER_OPT_IPMASQ="--ip-masq=true"\n'
    + 'DOCKER_OPT_MTU="--mtu=1472"\n'
    + 'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n');
});

test('FLANNEL_IPMASQ=true gives --ip-masq=false; -k and -d as the RPM unit uses them', () => {
  assert.equal(render(`${ENV}FLANNEL_IPMASQ=true\n`, { combinedKey: 'DOCKER_NETWORK_OPTIONS' }),
    'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\n'
    + 'DOCKER_OPT_IPMASQ="--ip-masq=false"\n'
    + 'DOCKER_OPT_MTU="--mtu=1472"\n'
    + 'DOCKER_NETWORK_OPTIONS=" --bip=10.1.74.1/24 --ip-masq=false --mtu=1472"\n');
});

test('missing FLANNEL_IPMASQ leaves --ip-masq out', () => {
  assert.equal(render(ENV),
    'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n');
});

test('any other FLANNEL_IPMASQ value is an error', () => {
  const r = renderDockerOpts(base, parseEnvFile(`${ENV}FLANNEL_IPMASQ=yes\n`));
  assert.deepEqual(r, { ok: false, error: 'Invalid value of FLANNEL_IPMASQ: yes' });
});

test('-m omits ip-masq, -i only individual lines, -c only the combined line', () => {
  const env = `${ENV}FLANNEL_IPMASQ=false\n`;
  assert.equal(render(env, { ipMasq: false, combined: true }), 'DOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n');
  assert.equal(render(env, { individual: true }),
    'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\n');
});

test('an existing combined variable from the environment comes first', () => {
  assert.equal(render(`${ENV}FLANNEL_IPMASQ=true\n`, { combined: true }, { DOCKER_OPTS: '--debug' }),
    'DOCKER_OPTS="--debug  --bip=10.1.74.1/24 --ip-masq=false --mtu=1472"\n');
});

test('route clash detection uses the subnet the script derives', () => {
  assert.equal(subnetOfFlannelSubnet('10.1.74.1/24'), '10.1.74.0/24');
  assert.deepEqual(conflictingRoutes('10.1.74.0/24 via 192.0.2.9 dev eth0\n10.1.75.0/24 dev flannel.1\n', '10.1.74.0/24'),
    ['10.1.74.0/24 via 192.0.2.9 dev eth0']);
});

test('runMkDockerOpts truncates and writes the docker env file; exit 1 on a bad IPMASQ', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mkdo-'));
  try {
    const envFile = path.join(dir, 'subnet.env');
    const out = path.join(dir, 'docker');
    fs.writeFileSync(out, 'old content that must go\n');
    fs.writeFileSync(envFile, 'FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=198.18.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    const opts = { ...base, flannelEnv: envFile, dockerEnv: out, combinedKey: 'DOCKER_NETWORK_OPTIONS' };
    assert.equal(runMkDockerOpts(opts, {}), 0);
    assert.equal(fs.readFileSync(out, 'utf8'),
      'DOCKER_OPT_BIP="--bip=198.18.7.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1450"\n'
      + 'DOCKER_NETWORK_OPTIONS=" --bip=198.18.7.1/24 --ip-masq=true --mtu=1450"\n');
    fs.writeFileSync(envFile, 'FLANNEL_SUBNET=198.18.7.1/24\nFLANNEL_IPMASQ=maybe\n');
    assert.equal(runMkDockerOpts(opts, {}), 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
