// The `netlink` package aborts the process on a socket overflow unless patches/netlink+0.3.0.patch is applied and
// the addon rebuilt from source (package.json postinstall). This checks the install did both: the binding that
// loads is build/Release, compiled from the patched source, not the unpatched prebuild.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const pkgDir = path.dirname(require.resolve('netlink/package.json'));

test('the netlink source carries the ENOBUFS fix', () => {
  const source = fs.readFileSync(path.join(pkgDir, 'src', 'binding.cc'), 'utf8');
  assert.match(source, /ErrnoException\(obj->Env\(\), -status, "poll", "error when polling socket"\)/,
    'patches/netlink+0.3.0.patch is not applied: run `npm install` (postinstall runs patch-package)');
});

test('the binding that loads is the one built from source, not the prebuild', () => {
  const nodeGypBuild = require(require.resolve('node-gyp-build', { paths: [pkgDir] })) as { path(dir: string): string };
  const loaded = nodeGypBuild.path(pkgDir);
  assert.equal(path.relative(pkgDir, loaded), path.join('build', 'Release', 'netlink_binding.node'),
    'netlink loads its unpatched prebuild: run `npm install` (postinstall rebuilds it from source)');
  const built = fs.statSync(loaded).mtimeMs;
  const patched = fs.statSync(path.join(pkgDir, 'src', 'binding.cc')).mtimeMs;
  assert.ok(built >= patched, 'the build is older than the patched source: run `npm install` again');
});
