// The shipped command runs the bundle (scripts/bundle.js): the launcher dist/src/tsflanneld.js loads
// dist/tsflanneld.bundle.js, which carries the daemon with etcd3 (patched) and gRPC inside, and grpc-js's own log lines
// still become JSON records (the bundle has one grpc-js, and it is the one routed through pino).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import fc from 'fast-check';
import { builtinModules } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { scratchNetns } from '../support/scratch-netns.js';

const DIST = path.resolve(__dirname, '..', '..');
const LAUNCHER = path.join(DIST, 'src', 'tsflanneld.js');
const BUNDLE = path.join(DIST, 'tsflanneld.bundle.js');
const netns = scratchNetns('tsfbndl', 'bundle');

function bundleText(): string {
  assert.ok(fs.existsSync(BUNDLE), `no ${BUNDLE}: npm run build makes it (esbuild is a devDependency)`);
  return fs.readFileSync(BUNDLE, 'utf8');
}

describe('bundled command', () => {
  it('carries etcd3 (with static coders), gRPC, pino and netlink\'s JS inside: no package loads from node_modules', () => {
    const text = bundleText();
    const external = new Set([...text.matchAll(/\brequire\("([^"./][^"]*)"\)/g)].map((m) => m[1]!)
      .filter((name) => !name.startsWith('node:') && !builtinModules.includes(name)));
    assert.deepEqual([...external], []);
    assert.ok(text.includes('etcd3 coders: a gRPC client never encodes a response'), 'etcd3\'s definitions are the static coders of scripts/etcd3-coders.js');
    assert.ok(!text.includes('"(google.api.http).post"'), 'not the descriptor JSON that reflection would be built from at start');
    assert.ok(!text.includes('ReflectionObject'), 'nor protobufjs\'s reflection, which nothing runs');
    assert.ok(!text.includes('rpc.proto'), 'no .proto file is parsed at start');
  });

  it('grpc-js tells a subchannel\'s address family by a colon, not by Node\'s isIPv6 (same answer for IP literals)', () => {
    const text = bundleText();
    const at = text.indexOf('function subchannelAddressToString(');
    assert.ok(at >= 0, 'grpc-js\'s subchannelAddressToString is in the bundle');
    const body = text.slice(at, text.indexOf('}', text.indexOf('isTcpSubchannelAddress', at) + 200));
    assert.ok(body.includes('__tsfIpLiteralIsV6(') && !body.includes('isIPv6'), body);
    const standIn = (host: string): boolean => host.includes(':'); // scripts/bundle.js's __tsfIpLiteralIsV6
    fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => standIn(ip) === net.isIPv6(ip)));
  });

  it('is what the installed command runs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-bundle-'));
    try {
      const preload = path.join(dir, 'loaded.js');
      fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(path.join(dir, 'out'))},
        JSON.stringify(Object.keys(require.cache))));`);
      const r = spawnSync(process.execPath, ['-r', preload, LAUNCHER, '--version'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
      const loaded = JSON.parse(fs.readFileSync(path.join(dir, 'out'), 'utf8')) as string[];
      assert.ok(loaded.includes(BUNDLE), `the bundle is loaded: ${loaded.join(', ')}`);
      assert.ok(!loaded.includes(path.join(DIST, 'src', 'cli.js')), 'not the separate modules');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('routes grpc-js\'s own log lines through pino: every stderr line is JSON', async () => {
    bundleText();
    // etcd is unreachable in an empty namespace, so grpc-js traces its connection attempts.
    const stderr = await daemonStderrUntil(await netns('grpc'), /"component":"grpc"/,
      { GRPC_TRACE: 'subchannel', GRPC_VERBOSITY: 'DEBUG', TSFLANNELD_LOG_LEVEL: 'trace', TSFLANNELD_LOG_FORMAT: 'json' });
    const raw = stderr.split('\n').filter((l) => l.trim() !== '').filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    assert.deepEqual(raw, [], 'no raw (non-JSON) line on stderr');
  });

  it('pretty-prints the log from the bundle (pino\'s transport worker is found in node_modules)', async () => {
    bundleText();
    const stderr = await daemonStderrUntil(await netns('pretty'), /startup: cli loaded/,
      { TSFLANNELD_LOG_LEVEL: 'debug', TSFLANNELD_LOG_FORMAT: 'pretty' });
    const line = stderr.split('\n').find((l) => l.includes('startup: cli loaded'))!;
    assert.throws(() => JSON.parse(line), SyntaxError, `a pretty line, not JSON: ${line}`);
  });
});

/**
 * Runs the daemon through the launcher in `ns` (empty, so etcd at 127.0.0.1:1 is unreachable) until its stderr
 * matches `until` (20 s at most), then kills it by PID; returns the stderr.
 */
async function daemonStderrUntil(ns: string, until: RegExp, env: Record<string, string>): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsf-bundle-'));
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, LAUNCHER, '--etcd-endpoints', 'http://127.0.0.1:1',
    '--subnet-file', path.join(dir, 'subnet.env'), '--state-dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TSFLANNELD_COMPILE_CACHE: 'off', ...env },
  });
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stderr did not match ${until} within 20 s:\n${stderr}`)), 20_000);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (until.test(stderr)) { clearTimeout(timer); resolve(); }
      });
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon exited ${code}:\n${stderr}`)); });
    });
  } finally {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return stderr;
}
