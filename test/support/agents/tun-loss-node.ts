// A bare userspace datapath (no daemon, no netlink monitor) for the robustness e2e test: run inside a namespace as
//   node tun-loss-node.js ['{"loops": N}']
// It opens flannel.1 and starts the loops; when a loop finds the TUN gone it reopens it (the onTunLost path the
// backend uses when the monitor missed the deletion) and prints `reopened`. stdin: `counters` prints the counters as
// JSON (with `queues`: the TUN queues it opened), `crash <loop>` kills that loop thread; EOF stops it. Logs (pino JSON) go to stderr.
import { execFileSync } from 'node:child_process';
import * as readline from 'node:readline';
import { UserspaceDatapath } from '../../../src/datapath/userspace-datapath.js';
import { parseCidr } from '../../../src/net/ipv4.js';

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as { loops?: number };
  const up = (): void => { execFileSync('ip', ['link', 'set', 'flannel.1', 'up']); };
  const dp: UserspaceDatapath = new UserspaceDatapath({
    tunName: 'flannel.1', vni: 1, port: 8472, ownMac: '02:5a:00:00:00:01', localIP: 0,
    network: parseCidr('10.244.0.0/16')!, subnetLen: 24, innerMtu: 1450,
    loopBackoff: { minMs: 20, maxMs: 200, healthyMs: 60_000 },
    ...(spec.loops !== undefined ? { loops: spec.loops } : {}),
    onTunLost: () => {
      process.stdout.write('lost\n');
      dp.reopenTun().then(() => { up(); process.stdout.write('reopened\n'); },
        (err: Error) => process.stdout.write(`reopen failed: ${err.message}\n`));
    },
  });
  up();
  dp.start(parseCidr('10.244.1.0/24')!);
  process.stdout.write('ready\n');
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'counters') process.stdout.write(`${JSON.stringify({ ...dp.counters(), queues: dp.queues })}\n`);
    else if (line.startsWith('crash ')) void dp.crashLoopForTest(line.slice(6)).then(() => process.stdout.write('crashed\n'));
  });
  rl.on('close', () => { void dp.stop().then(() => process.exit(0)); });
}

main();
