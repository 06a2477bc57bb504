// The parts that attach to the daemon's lifecycle (see ./lifecycle.ts): ip-masq and FORWARD rules, sd_notify READY,
// the health server. Each adds its attach function to this list; the daemon runs them in this order.
import type { DaemonExtension } from './lifecycle.js';
import { attachOperations } from './ops/extension.js';

export const DAEMON_EXTENSIONS: DaemonExtension[] = [attachOperations];
