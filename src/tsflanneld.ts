#!/usr/bin/env node
// The installed command (package.json "bin", the systemd units, the tests' testbed): the process settings and the
// code cache first (./boot.ts), then the program as one bundled file (scripts/bundle.js, dist/tsflanneld.bundle.js)
// compiled through that cache; without a current bundle, ./cli.js and its modules as they are (./launch-target.ts).
import './boot.js';
import { launchTarget } from './launch-target.js';

// eslint-disable-next-line @typescript-eslint/no-require-imports
require(launchTarget(__dirname));
