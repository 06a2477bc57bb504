import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatCidr, parseCidr, type Ipv4Net } from '../../src/net/ipv4.js';
import {
  formatSubnetEnv, parseSubnetEnv, previousSubnetFrom, readPreviousSubnet, writeSubnetEnvAtomic,
} from '../../src/subnet/subnet-env.js';

const net = (s: string): Ipv4Net => parseCidr(s) as Ipv4Net;

test('format: upstream keys, order and values', () => {
  const text = formatSubnetEnv({ network: net('10.5.0.0/16'), subnet: net('10.5.52.0/24'), mtu: 1450, ipMasq: false });
  assert.equal(text, 'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  assert.match(formatSubnetEnv({ network: net('10.0.0.0/8'), subnet: net('10.0.0.0/30'), mtu: 1500, ipMasq: true }),
    /FLANNEL_SUBNET=10\.0\.0\.1\/30\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n$/);
});

test('parse is tolerant: export, quotes, comments, CRLF, blank lines', () => {
  const vars = parseSubnetEnv('# written by hand\r\nexport FLANNEL_SUBNET="10.5.52.1/24"\r\n\n'
    + "FLANNEL_MTU='1450'\nFLANNEL_NETWORK = 10.5.0.0/16 # the network\nnot a line\nFLANNEL_IPMASQ=true\n");
  assert.deepEqual(vars, { FLANNEL_SUBNET: '10.5.52.1/24', FLANNEL_MTU: '1450', FLANNEL_NETWORK: '10.5.0.0/16',
    FLANNEL_IPMASQ: 'true' });
});

test('previous subnet: FLANNEL_SUBNET 10.5.52.1/24 is the net 10.5.52.0/24; absent or bad is null', () => {
  assert.equal(formatCidr(previousSubnetFrom('FLANNEL_SUBNET=10.5.52.1/24\n') as Ipv4Net), '10.5.52.0/24');
  assert.equal(previousSubnetFrom('FLANNEL_MTU=1450\n'), null);
  assert.equal(previousSubnetFrom('FLANNEL_SUBNET=banana\n'), null);
  assert.equal(previousSubnetFrom('FLANNEL_SUBNET=10.5.52.1\n'), null);
  assert.equal(readPreviousSubnet('/nonexistent/dir/subnet.env'), null);
});

test('property: what format writes, previousSubnetFrom reads back', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 8, max: 30 }), (addr, len) => {
    const subnet = parseCidr(`${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`) as Ipv4Net;
    const text = formatSubnetEnv({ network: net('0.0.0.0/0'), subnet, mtu: 1400, ipMasq: false });
    assert.deepEqual(previousSubnetFrom(text), subnet);
  }));
});

test('atomic write: creates the directory, mode 0644 despite the umask, replaces the content, leaves no temp file', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfl-subnetenv-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, 'run', 'flannel', 'subnet.env');
  const oldMask = process.umask(0o077);
  try {
    writeSubnetEnvAtomic(file, 'A=1\n');
    writeSubnetEnvAtomic(file, 'FLANNEL_SUBNET=10.0.3.1/24\n');
  } finally {
    process.umask(oldMask);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'FLANNEL_SUBNET=10.0.3.1/24\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o644);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['subnet.env']);
  assert.equal(formatCidr(readPreviousSubnet(file) as Ipv4Net), '10.0.3.0/24');
});

test('atomic write: a reader never sees a partial file', (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfl-subnetenv-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const file = path.join(root, 'subnet.env');
  const a = 'X='.padEnd(64 * 1024, 'a') + '\n';
  const b = 'X='.padEnd(64 * 1024, 'b') + '\n';
  writeSubnetEnvAtomic(file, a);
  // Rename replaces the inode: a file opened before the write still reads the complete old content.
  const fd = fs.openSync(file, 'r');
  writeSubnetEnvAtomic(file, b);
  assert.equal(fs.readFileSync(fd, 'utf8'), a);
  fs.closeSync(fd);
  assert.equal(fs.readFileSync(file, 'utf8'), b);
});
