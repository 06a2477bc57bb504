// Runs the traffic manager inside whatever namespace it is started in
// (`ip netns exec <ns> node traffic-run.js '<json>'`): the rules go through iptables run here, the blackhole route
// through this process's netlink socket, which the `netlink` package can only open in the current namespace.
// Input: {options: TrafficOptions, network, subnet, steps: ('start'|'resync')[]}; prints {ok:true} or {ok:false, error}.
// With `hold`, the manager keeps running after the steps: each stdin line `report` prints {rebuilds, checks,
// watching}, and the end of stdin stops it.
import { createInterface } from 'node:readline';
import { parseCidr, type Ipv4Net } from '../../../src/net/ipv4.js';
import { parseCidr6, type Ipv6Net } from '../../../src/net/ipv6.js';
import { TrafficManager, type TrafficOptions } from '../../../src/trafficmngr/traffic-manager.js';

interface Args {
  readonly options: TrafficOptions;
  readonly network: string;
  readonly subnet: string;
  readonly steps: ReadonlyArray<'start' | 'resync'>;
  /** Dual stack: IPv6Network and our IPv6 subnet. */
  readonly ipv6Network?: string;
  readonly ipv6Subnet?: string;
  /** FLANNEL_IPV6_SUBNET of a previous run (network form). */
  readonly prevIPv6Subnet?: string;
  /** Keep running after the steps (see the header). */
  readonly hold?: boolean;
}

function cidr(text: string): Ipv4Net {
  const n = parseCidr(text);
  if (!n) throw new Error(`bad CIDR ${text}`);
  return n;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as Args;
  const ipv6 = args.ipv6Network && args.ipv6Subnet
    ? { network: parseCidr6(args.ipv6Network) as Ipv6Net, subnet: parseCidr6(args.ipv6Subnet) as Ipv6Net } : null;
  const prevIPv6 = args.prevIPv6Subnet ? { network: ipv6?.network ?? null, subnet: parseCidr6(args.prevIPv6Subnet) } : null;
  // An empty network: an IPv6-only network (EnableIPv4 false), no IPv4 half.
  const v4 = args.network !== '';
  const state = { network: v4 ? cidr(args.network) : null, subnet: v4 ? cidr(args.subnet) : null, prevNetwork: null, prevSubnet: null, ipv6, prevIPv6 };
  const tm = new TrafficManager(args.options);
  for (const step of args.steps) {
    if (step === 'start') await tm.start(state);
    else await tm.resync(state);
  }
  if (args.hold) await hold(tm);
  tm.stop();
  process.stdout.write(`${JSON.stringify({ ok: true, counters: tm.counters() })}\n`);
}

async function hold(tm: TrafficManager): Promise<void> {
  const report = (): void => {
    process.stdout.write(`${JSON.stringify({ rebuilds: tm.counters().rebuilds, checks: tm.checks, watching: tm.watchingChanges })}\n`);
  };
  report();
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (l) => { if (l === 'report') report(); });
  await new Promise<void>((resolve) => lines.once('close', () => resolve()));
}

main().then(() => process.exit(0), (e: unknown) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: (e as Error).message })}\n`);
  process.exit(1);
});
