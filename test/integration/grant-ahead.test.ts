// The etcd lease grant asked ahead of the subnet choice (src/subnet/grant-ahead.ts), against a real etcd member.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseLab } from '../support/lease-lab.js';
import { waitFor } from '../support/proc.js';
import { uniquePrefix } from '../support/subnet-fixtures.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { parseCidr } from '../../src/net/ipv4.js';
import { missingPrerequisite } from '../support/prerequisites.js';

const skip = missingPrerequisite({ netns: false, etcd: true }) ?? false;

describe('etcd lease grant asked ahead (real etcd)', { skip }, () => {
  const lab = leaseLab();
  const leaseIds = async (): Promise<Set<string>> =>
    new Set((await lab.client.leaseClient.leaseLeases({})).leases.map((l) => String(l.ID)));
  /** Asks ahead and returns the id etcd granted for it (the one lease that appeared). */
  async function askAhead(registry: SubnetRegistry, ttl: number): Promise<string> {
    const before = await leaseIds();
    registry.grantAhead(ttl);
    return waitFor(async () => {
      const fresh = [...await leaseIds()].filter((id) => !before.has(id));
      return fresh.length === 1 ? fresh[0] : null;
    }, { what: 'the grant asked ahead' });
  }

  it('the create after the choice is written with the grant asked ahead, not a second one', async () => {
    const registry = new SubnetRegistry(lab.client, uniquePrefix(), lab.rec.log);
    const ahead = await askAhead(registry, 60);
    const count = (await leaseIds()).size;
    const lease = await registry.createLease(parseCidr('10.20.3.0/24')!, { publicIP: '192.0.2.7', publicIPv6: null, backendType: 'vxlan' }, 60);
    assert.equal(lease?.etcdLeaseId, ahead);
    assert.equal((await leaseIds()).size, count, 'no other grant');
    registry.dropGrantAhead();
    assert.ok((await leaseIds()).has(ahead), 'a taken grant is not revoked by the drop');
  });

  it('a grant nobody took is revoked by the drop', async () => {
    const registry = new SubnetRegistry(lab.client, uniquePrefix(), lab.rec.log);
    const ahead = await askAhead(registry, 60);
    registry.dropGrantAhead();
    await waitFor(async () => !(await leaseIds()).has(ahead), { what: 'the untaken grant revoked' });
  });
});
