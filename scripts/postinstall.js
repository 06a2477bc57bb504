#!/usr/bin/env node
// postinstall: applies patches/netlink+0.3.0.patch to the `netlink` package and rebuilds its binding from the patched
// source (unpatched, a netlink receive-buffer overflow aborts the process; see src/netlink/socket.ts). patch-package
// applies patches/etcd3+1.1.2.patch in the same run (etcd3 reads its gRPC definitions from JSON made at build time
// instead of parsing .proto files at every start; unpatched it still works, only slower to start).
//
// Works wherever npm put netlink: in our own node_modules (a checkout, `npm install -g`) or hoisted into an app's
// node_modules when tsflanneld is a dependency. patch-package only looks for packages under
// <cwd>/node_modules and for patches under a path relative to that cwd, so it is run from the directory that holds
// netlink's node_modules, pointed at our patches/. A patch that is already applied is left as it is.
// When the patch cannot be applied or the rebuild fails, the install goes on with netlink's prebuilt binding and a
// warning (test/integration/netlink-patched.test.ts fails in that state, so CI notices).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PATCHES = path.join(ROOT, 'patches');

function say(message) {
  process.stderr.write(`tsflanneld postinstall: ${message}\n`);
}

function run(argv, cwd) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd, stdio: 'inherit', env: process.env });
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} (in ${cwd}) exited ${r.status}`);
}

/** The netlink package directory as Node resolves it from here, or null. */
function findNetlink() {
  try {
    return path.dirname(require.resolve('netlink/package.json', { paths: [ROOT] }));
  } catch {
    return null;
  }
}

/** patch-package's own entry point, resolved like netlink (it is a dependency of ours). */
function patchPackageBin() {
  const pkgJson = require.resolve('patch-package/package.json', { paths: [ROOT] });
  const bin = require(pkgJson).bin;
  return path.join(path.dirname(pkgJson), typeof bin === 'string' ? bin : bin['patch-package']);
}

/** node-gyp as npm hands it to install scripts, else the one bundled with npm next to this node, else PATH's. */
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  const found = candidates.find((c) => c && fs.existsSync(c));
  return found ? [process.execPath, found] : ['node-gyp'];
}

function main() {
  const netlink = findNetlink();
  if (netlink === null) {
    say('the netlink package is not installed; nothing to patch');
    return;
  }
  const modules = path.dirname(netlink);
  if (path.basename(modules) !== 'node_modules' || !fs.existsSync(PATCHES)) {
    say(`netlink at ${netlink} is not in a node_modules directory, or ${PATCHES} is missing; not patching`);
    return;
  }
  const appRoot = path.dirname(modules);
  if (!fs.existsSync(path.join(appRoot, 'package.json'))) {
    say(`no package.json in ${appRoot}, where netlink is installed; not patching`);
    return;
  }
  run([process.execPath, patchPackageBin(), '--patch-dir', path.relative(appRoot, PATCHES)], appRoot);
  run([...nodeGyp(), 'rebuild'], netlink);
}

try {
  main();
} catch (err) {
  say(`WARNING: ${err.message}. netlink's binding is not rebuilt from the patched source; with its prebuilt one a `
    + 'netlink socket overflow aborts tsflanneld. Run `npm rebuild tsflanneld` once the cause is fixed');
}
