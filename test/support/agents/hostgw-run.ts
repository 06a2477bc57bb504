// Runs the host-gw backend inside the current namespace (`ip netns exec <ns> node hostgw-run.js '<json>'`),
// driven by JSON lines on stdin — {op:'register'|'start'|'reset'|'events'|'counters'|'stop'|'teardown', …} — and answering
// each with a JSON line {op, ok, value | error} on stdout. Logs (pino JSON) go to stderr.
import * as readline from 'node:readline';
import { createBackend, driveBackend } from '../../../src/backend/registry.js';
import { createHostGwBackend } from '../../../src/backend/hostgw/hostgw.js';
import type { NetworkConfig } from '../../../src/config/network-config.js';
import { log } from '../../../src/log.js';
import { chooseExternalInterface } from '../../../src/netlink/external-iface.js';
import { parseCidr, type Ipv4Net } from '../../../src/net/ipv4.js';
import type { Lease, LeaseEvent } from '../../../src/subnet/lease.js';

interface Args {
  iface: string;
  network: string;
  own: LeaseJson;
  publicIP?: string;
  resyncIntervalMs?: number;
  watchKernel?: boolean;
  /** Use the factory registered as `host-gw` (default options) instead of createHostGwBackend(opts). */
  registered?: boolean;
}

interface LeaseJson {
  subnet: string;
  publicIP: string;
  backendType?: string;
}

function cidr(text: string): Ipv4Net {
  const n = parseCidr(text);
  if (!n) throw new Error(`bad CIDR ${text}`);
  return n;
}

function lease(l: LeaseJson): Lease {
  return {
    subnet: cidr(l.subnet), expiration: null, etcdLeaseId: '0', revision: '1',
    attrs: { publicIP: l.publicIP, publicIPv6: null, ...(l.backendType !== undefined ? { backendType: l.backendType } : {}) },
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const network = cidr(args.network);
  const config: NetworkConfig = {
    enableIPv4: true, enableIPv6: false, enableNFTables: false, network, subnetLen: 24,
    subnetMin: network.ip + 256, subnetMax: network.ip + 255 * 256, backend: { type: 'host-gw', raw: { Type: 'host-gw' } },
  };
  const extIface = await chooseExternalInterface({ iface: [args.iface], ifaceRegex: [], ...(args.publicIP ? { publicIP: args.publicIP } : {}) });
  const ctx = { extIface, network: config, stateDir: '/nonexistent', log };
  const backend = args.registered
    ? createBackend('host-gw', ctx)
    : driveBackend(ctx, (driven) => createHostGwBackend(driven, {
      ...(args.resyncIntervalMs !== undefined ? { resyncIntervalMs: args.resyncIntervalMs } : {}),
      ...(args.watchKernel !== undefined ? { watchKernel: args.watchKernel } : {}),
    }));
  if (!backend) throw new Error('host-gw is not registered');
  const reply = (o: unknown): boolean => process.stdout.write(`${JSON.stringify(o)}\n`);
  reply({ op: 'ready', ok: true, value: extIface });

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line) as { op: string; seq?: number; peers?: LeaseJson[]; events?: Array<LeaseJson & { type: 'added' | 'removed' }> };
    try {
      let value: unknown = null;
      switch (cmd.op) {
        case 'register': value = await backend.register(); break;
        case 'start': await backend.start(lease(args.own)); break;
        case 'reset': await backend.resetPeers((cmd.peers ?? []).map(lease)); break;
        case 'events':
          await backend.handleEvents((cmd.events ?? []).map((e): LeaseEvent => ({ type: e.type, lease: lease(e) })));
          break;
        case 'counters': value = backend.counters(); break;
        case 'stop':
        case 'teardown':
          await (cmd.op === 'stop' ? backend.stop() : backend.teardown());
          reply({ op: cmd.op, seq: cmd.seq, ok: true, value });
          process.exit(0);
          break;
        default: throw new Error(`unknown op ${cmd.op}`);
      }
      reply({ op: cmd.op, seq: cmd.seq, ok: true, value });
    } catch (err) {
      reply({ op: cmd.op, seq: cmd.seq, ok: false, error: (err as Error).message });
    }
  }
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ op: 'ready', ok: false, error: (err as Error).message })}\n`);
  process.exit(1);
});
