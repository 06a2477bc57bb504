// Imported first by cli.ts, for its side effect: after a re-exec (or a restart with systemd's fd store), the loops run again on the handed-over
// fds before the rest of the daemon (etcd client, gRPC, …) is even loaded, which on a busy host takes a second and
// would otherwise be a second in which the TUN queues only fill. Without a handover in the environment: nothing.
import { log } from '../log.js';
import { HANDOVER_ENV } from './handover.js';
import { collectInheritedFds } from './inbox.js';

if (process.env[HANDOVER_ENV] !== undefined || process.env.LISTEN_FDS !== undefined) collectInheritedFds(log);
