// The vxlan backend with --vxlan-datapath userspace, driven without etcd, for e2e tests: run inside a host namespace as
//   node userspace-backend-node.js '<json BackendNodeSpec>'
// It registers (TUN, VtepMAC from the state dir), starts with the own lease, resets the peers to the given leases,
// prints the registration JSON and `ready`, answers `counters` on stdin, tears down on `teardown`, and stops on stdin EOF.
import * as readline from 'node:readline';
import { createBackend } from '../../../src/backend/registry.js';
import '../../../src/backend/vxlan/index.js';
import { parseCidr, prefixMask } from '../../../src/net/ipv4.js';
import { log } from '../../../src/log.js';
import type { Lease } from '../../../src/subnet/lease.js';

export interface BackendNodeSpec {
  readonly iface: { name: string; index: number; mtu: number; addr: string };
  readonly network: string;
  readonly subnetLen: number;
  readonly ownSubnet: string;
  readonly stateDir: string;
  readonly backend: Record<string, unknown>;
  readonly peers: readonly { subnet: string; publicIP: string; backendType: string; backendData: unknown }[];
}

function lease(subnet: string, publicIP: string, backendType: string, backendData: unknown): Lease {
  return {
    subnet: parseCidr(subnet)!, attrs: { publicIP, publicIPv6: null, backendType, backendData },
    expiration: null, etcdLeaseId: '0', revision: '0',
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as BackendNodeSpec;
  const network = parseCidr(spec.network)!;
  const ctx = {
    extIface: { name: spec.iface.name, index: spec.iface.index, mtu: spec.iface.mtu, ifaceAddr: spec.iface.addr, extAddr: spec.iface.addr },
    network: {
      enableIPv4: true, enableIPv6: false, enableNFTables: false, network, subnetLen: spec.subnetLen,
      subnetMin: network.ip, subnetMax: (network.ip | (~prefixMask(network.prefixLen) & prefixMask(spec.subnetLen))) >>> 0,
      backend: { type: 'vxlan', raw: spec.backend },
    },
    stateDir: spec.stateDir, log,
  };
  const backend = createBackend('vxlan', ctx, { vxlan: { datapath: 'userspace', busyPoll: 200 } })!;
  const registration = await backend.register();
  await backend.start(lease(spec.ownSubnet, spec.iface.addr, 'vxlan', registration.backendData));
  await backend.resetPeers(spec.peers.map((p) => lease(p.subnet, p.publicIP, p.backendType, p.backendData)));
  process.stdout.write(`${JSON.stringify(registration)}\nready\n`);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line === 'counters') process.stdout.write(`${JSON.stringify(backend.counters())}\n`);
    if (line === 'teardown') void backend.teardown().then(() => { process.stdout.write('torn down\n'); process.exit(0); });
  });
  rl.on('close', () => {
    void backend.stop().then(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
