// A userspace VXLAN node without the control plane, for e2e tests and the benchmark: run inside a host namespace as
//   node userspace-vxlan-node.js '<json NodeSpec>'
// It opens the datapath, addresses the TUN as flanneld would (<own subnet>.0/32, MTU, up, <Network> dev flannel.N),
// installs the given peers, prints `ready` and then counters JSON on each line of stdin `counters`; stdin `peers
// <json>` replaces the peer set. SIGTERM (or stdin EOF) stops it and prints the final counters.
import { execFileSync } from 'node:child_process';
import * as readline from 'node:readline';
import { formatCidr, formatIPv4, parseCidr, parseIPv4 } from '../../../src/net/ipv4.js';
import { UserspaceDatapath } from '../../../src/datapath/userspace-datapath.js';

export interface NodePeer {
  readonly subnet: string;
  readonly publicIP: string;
  readonly mac: string;
}

export interface NodeSpec {
  readonly device: string;
  readonly vni: number;
  readonly port: number;
  readonly mac: string;
  readonly localIP: string;
  readonly network: string;
  readonly subnetLen: number;
  readonly ownSubnet: string;
  readonly mtu: number;
  readonly peers: readonly NodePeer[];
  readonly offloads?: boolean;
  readonly gro?: boolean;
  readonly batch?: number;
  readonly loops?: number | 'pipeline';
  readonly spinMicros?: number;
  readonly scheduling?: { readonly nice?: number; readonly fifoPriority?: number };
  readonly sendPath?: 'auto' | 'tunnel-gso' | 'segment';
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as NodeSpec;
  const network = parseCidr(spec.network)!;
  const own = parseCidr(spec.ownSubnet)!;
  const dp = new UserspaceDatapath({
    tunName: spec.device, vni: spec.vni, port: spec.port, ownMac: spec.mac, localIP: parseIPv4(spec.localIP)!,
    network, subnetLen: spec.subnetLen, innerMtu: spec.mtu, offloads: spec.offloads ?? true, gro: spec.gro ?? true,
    batch: spec.batch ?? 16, ...(spec.loops !== undefined ? { loops: spec.loops } : {}),
    scheduling: spec.scheduling ?? {}, ...(spec.spinMicros !== undefined ? { spinMicros: spec.spinMicros } : {}),
    ...(spec.sendPath !== undefined ? { sendPath: spec.sendPath } : {}),
  });
  ip('addr', 'add', `${formatIPv4(own.ip)}/32`, 'dev', spec.device);
  ip('link', 'set', spec.device, 'mtu', String(spec.mtu), 'up');
  ip('route', 'add', formatCidr(network), 'dev', spec.device);
  const setPeers = (peers: readonly NodePeer[]): void => {
    dp.clearPeers();
    for (const p of peers) dp.setPeer(parseCidr(p.subnet)!.ip, parseIPv4(p.publicIP)!, p.mac);
  };
  setPeers(spec.peers);
  dp.start(own);
  process.stdout.write(`send-path ${dp.sendPath}\nready\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void dp.stop().then(() => {
      process.stdout.write(`${JSON.stringify(dp.counters())}\n`);
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'counters') process.stdout.write(`${JSON.stringify(dp.counters())}\n`);
    else if (line.startsWith('peers ')) {
      setPeers(JSON.parse(line.slice(6)) as NodePeer[]);
      process.stdout.write('ok\n');
    }
  });
  rl.on('close', stop);
}

main();
