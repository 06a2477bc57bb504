// The least memory a Node.js daemon built on the etcd3 client can hold: Node with the daemon's V8 settings and its
// malloc trims (src/boot.ts, src/footprint.ts), the etcd3 package loaded, and nothing else: no connection, no lease,
// no datapath. The bench reads its RSS after the same idle time as the daemons' (runtime-floor.ts beside main.ts).
// Run with the unit's NODE_OPTIONS (--v8-pool-size=1). Usage: node runtime-floor.js
import * as v8 from 'node:v8';
import { applyFootprintFlags, trimAfterStartUp } from '../../src/footprint.js';

// boot.ts's young-generation setting, then footprint.ts's flags, as the daemon applies them before loading.
v8.setFlagsFromString('--semi-space-growth-factor=1');
applyFootprintFlags();
process.env.UV_THREADPOOL_SIZE ??= '2';

// Loaded for its memory only.
require('etcd3');
trimAfterStartUp();
// Idle until the bench kills it by PID; the timer keeps the event loop alive and wakes it once a day.
setInterval(() => undefined, 86_400_000);
process.stdout.write('ready\n');
