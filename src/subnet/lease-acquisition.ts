// Getting a subnet lease, in upstream's order (flannel-compat §3): our PublicIP's lease or reservation ▸ the preferred
// subnet (previous subnet.env, or the one just lost) ▸ a random free one. Retries quietly while etcd is unreachable
// or the pool is full; a lost create race is retried with a fresh pick (upstream gives up there).
import type { NetworkConfig } from '../config/network-config.js';
import type { Logger } from '../log.js';
import { formatCidr, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, type Ipv6Net } from '../net/ipv6.js';
import { chooseSubnet, poolExhaustedMessage } from './allocator.js';
import { leaseName, sameLeaseAttrs, subnetKey } from './codec.js';
import { describeEtcdError, reportEtcdError } from './etcd-client.js';
import type { Lease, LeaseAttrs } from './lease.js';
import type { LeaseRegistry } from './registry.js';
import { earlierClaimOfAHalf } from './half-clash.js';
import { AbortedError, Backoff, RateLimitedLog, sleep } from './retry-pacing.js';

export interface AcquireRequest {
  readonly registry: LeaseRegistry;
  readonly config: NetworkConfig;
  /** Read at each try: republish() may change the attributes while a re-acquisition retries. */
  readonly attrs: () => LeaseAttrs;
  readonly ttlSeconds: number;
  readonly log: Logger;
  readonly random: () => number;
  /** How often a full pool is looked at again (default 2 s). */
  readonly fullPoolRetryMs?: number;
  /** The subnet to ask for first when our PublicIP holds none. */
  readonly preferred: Ipv4Net | null;
  readonly preferredIPv6: Ipv6Net | null;
  /** Called with the operator's message each time the pool is found full. */
  readonly onPoolExhausted: (message: string) => void;
  /**
   * The lease list read ahead (at start-up, while the backend registers): the first try uses it instead of a round
   * trip of its own; later tries read afresh. Its age only widens the window a create race already covers.
   */
  readonly firstList?: Promise<{ leases: Lease[] }>;
}

/** Leases a subnet; rejects (AbortedError) only when `abort` fires. */
export async function acquireLease(r: AcquireRequest, abort: AbortSignal): Promise<Lease> {
  const unreachable = new RateLimitedLog(r.log);
  const fullLog = new RateLimitedLog(r.log, 5 * 60_000);
  const backoff = new Backoff(200, 5000);
  let races = 0;
  let firstList = r.firstList;
  for (;;) {
    if (abort.aborted) throw new AbortedError();
    let outcome: Lease | 'race' | 'full';
    const list = firstList;
    firstList = undefined;
    try {
      outcome = await tryAcquire(r, list);
    } catch (err) {
      if (abort.aborted) throw new AbortedError();
      reportEtcdError('acquire_lease');
      const delay = backoff.next();
      unreachable.problem('could not acquire a subnet lease; retrying', { error: describeEtcdError(err), retryInMs: delay });
      await sleep(delay, abort);
      continue;
    }
    unreachable.clear('etcd reachable again');
    backoff.reset();
    if (outcome === 'race') {
      // Another host created the key between our list and our txn: pick again from a fresh list.
      races++;
      if (races > 3) await sleep(Math.floor(r.random() * 200 * Math.min(races, 10)), abort);
      continue;
    }
    if (outcome === 'full') {
      const msg = poolExhaustedMessage(r.config, r.registry.subnetsPrefix);
      fullLog.problem(msg, {}, 'error');
      r.onPoolExhausted(msg);
      await sleep(r.fullPoolRetryMs ?? 2000, abort);
      continue;
    }
    fullLog.clear('a subnet became free');
    return outcome;
  }
}

async function tryAcquire(r: AcquireRequest, list?: Promise<{ leases: Lease[] }>): Promise<Lease | 'race' | 'full'> {
  const { registry, config, ttlSeconds, log } = r;
  // The choice reads subnets and PublicIPs, never expiries: no TimeToLive call per lease in the cluster.
  const { leases } = await (list ?? registry.listLeases({ expiry: false }));
  const attrs = r.attrs();
  const choice = chooseSubnet({ config, leases, publicIP: attrs.publicIP, publicIPv6: attrs.publicIPv6, previous: r.preferred,
    previousIPv6: r.preferredIPv6, random: r.random });
  for (const stale of choice.staleOwn) {
    log.warn({ subnet: leaseName(stale.subnet, stale.ipv6Subnet) },
      'deleting our lease (same PublicIP) that does not fit the network config');
    await registry.deleteLease(stale.subnet, stale.ipv6Subnet);
  }
  switch (choice.kind) {
    case 'own': {
      const own = choice.lease;
      if (own.etcdLeaseId === '0') {
        // A reservation: used as it is; only its value is brought up to date, never a lease attached.
        const lease = sameLeaseAttrs(own.attrs, attrs) ? own : await registry.renewLease(own, attrs, 0);
        log.info({ subnet: leaseName(own.subnet, own.ipv6Subnet) }, 'using the reservation for our PublicIP');
        return lease;
      }
      const lease = await registry.renewLease(own, attrs, ttlSeconds);
      log.info({ subnet: leaseName(own.subnet, own.ipv6Subnet) }, 'found our existing lease (same PublicIP), reusing it');
      return lease;
    }
    case 'previous':
    case 'new': {
      const lease = await registry.createLease(choice.subnet, attrs, ttlSeconds, choice.ipv6Subnet);
      if (!lease) {
        log.info({ subnet: leaseName(choice.subnet, choice.ipv6Subnet) }, 'another host took this subnet first; picking again');
        return 'race';
      }
      if (config.ipv6 && await steppedBack(registry, lease, log)) return 'race';
      log.info({ subnet: formatCidr(choice.subnet), ...(choice.ipv6Subnet ? { ipv6Subnet: formatCidr6(choice.ipv6Subnet) } : {}),
        how: choice.kind === 'previous' ? 'previous subnet (subnet file, or the one just lost)' : 'new' },
        'allocated subnet lease');
      return lease;
    }
    case 'full':
      return 'full';
  }
}

/** Deletes the key just created when a host created one sharing its IPv4 or IPv6 half earlier (half-clash.ts). */
async function steppedBack(registry: LeaseRegistry, lease: Lease, log: Logger): Promise<boolean> {
  const { leases } = await registry.listLeases({ expiry: false });
  const earlier = earlierClaimOfAHalf(lease, leases);
  if (earlier === null) return false;
  log.info({ subnet: leaseName(lease.subnet, lease.ipv6Subnet), earlier: subnetKey(earlier.subnet, earlier.ipv6Subnet) },
    'another host created a lease sharing half of this dual-stack subnet first; picking again');
  await registry.withdrawCreated(lease);
  return true;
}
