// What `npm pack` ships: everything an install from the tarball needs to build and run (compiled JS, the native
// addon's sources and binding.gyp, the netlink patch and the script that applies it, the systemd files), and none of
// the tests, benchmarks, TypeScript sources or source maps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const hasNpm = spawnSync('sh', ['-c', 'command -v npm'], { stdio: 'ignore' }).status === 0;

function packedFiles(): Set<string> {
  // --ignore-scripts: no `prepare` build here; the test runs on the dist/ the test run has just built.
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  return new Set((pack?.files ?? []).map((f) => f.path));
}

function jsUnder(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.js'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

test('the tarball holds what an install builds and runs, and nothing of the tests', { skip: hasNpm ? false : 'npm is not installed' }, () => {
  const files = packedFiles();
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>; scripts: Record<string, string>; gypfile?: boolean;
  };
  for (const f of ['package.json', 'README.md', 'binding.gyp', 'patches/netlink+0.3.0.patch', 'scripts/postinstall.js',
    'systemd/tsflanneld.service', 'systemd/flanneld.sysconfig', 'systemd/docker-flannel.conf',
    'systemd/tsflanneld-hardened.service', 'systemd/60-tsflanneld-tun.rules', 'systemd/tsflanneld.sysusers', ...Object.values(pkg.bin)]) {
    assert.ok(files.has(f), `${f} is packed`);
  }
  for (const f of jsUnder('dist/src')) assert.ok(files.has(f), `${f} is packed`);
  const gyp = JSON.parse(fs.readFileSync(path.join(ROOT, 'binding.gyp'), 'utf8')) as { targets: Array<{ sources: string[] }> };
  for (const source of gyp.targets.flatMap((t) => t.sources)) assert.ok(files.has(source), `addon source ${source} is packed`);

  const stray = [...files].filter((f) => /^(dist\/(test|bench)|test|bench|src|docs)\//.test(f) || f.endsWith('.map'));
  assert.deepEqual(stray, [], 'no tests, benchmarks, TypeScript sources or source maps');

  // An install from the tarball builds the addon (gypfile) and patches netlink; only a checkout builds the TypeScript.
  assert.equal(pkg.gypfile, true);
  assert.equal(pkg.scripts.install, undefined, 'npm runs node-gyp rebuild itself only while there is no install script');
  assert.equal(pkg.scripts.postinstall, 'node scripts/postinstall.js');
  assert.match(pkg.scripts.prepare ?? '', /npm run build/);
});
