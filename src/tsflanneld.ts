#!/usr/bin/env node
// The installed command (package.json "bin", the systemd units, the tests' testbed): the process settings and the
// code cache first (./boot.ts), then the program as one bundled file (scripts/bundle.js, dist/tsflanneld.bundle.js)
// compiled through that cache; a build made without esbuild has no bundle and runs ./cli.js and its modules as is.
import './boot.js';
import * as fs from 'node:fs';
import * as path from 'node:path';

const bundle = path.join(__dirname, '..', 'tsflanneld.bundle.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(fs.existsSync(bundle) ? bundle : './cli.js');
