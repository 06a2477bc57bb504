// Prints kernel notifications seen by src/netlink/monitor.ts inside the current namespace as JSON lines:
// `{"ready":true}` once listening, then `{"kind":"route","action":"del","dst":"10.9.0.0/24"}`… and
// `{"resync":true}` after the socket was rebuilt. Args: groups (comma list) and optionally a receive buffer size.
import { formatCidr } from '../../../src/net/ipv4.js';
import { NetlinkMonitor, type MonitorGroup } from '../../../src/netlink/monitor.js';

const groups = (process.argv[2] ?? 'route').split(',') as MonitorGroup[];
const recvBufferSize = process.argv[3] ? Number(process.argv[3]) : undefined;
const monitor = new NetlinkMonitor({ groups, ...(recvBufferSize ? { recvBufferSize } : {}) });
const print = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);

monitor.on('event', (e) => {
  if (e.kind === 'route') print({ kind: e.kind, action: e.action, dst: formatCidr(e.route.dst), protocol: e.route.protocol });
  else if (e.kind === 'link') print({ kind: e.kind, action: e.action, name: e.link.name });
  else print({ kind: e.kind, action: e.action });
});
monitor.on('resync', () => print({ resync: true, failures: monitor.failures }));
monitor.start();
print({ ready: true });
process.on('SIGTERM', () => {
  monitor.close();
  process.exit(0);
});
