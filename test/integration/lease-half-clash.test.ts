// Two hosts racing for one IPv4 subnet in a dual-stack network (real etcd): each creates its own dual-stack key, so
// etcd's create-if-absent guard lets both in. The host that created second must step back and pick again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailable, etcdctl } from '../support/etcd.js';
import { leaseLab } from '../support/lease-lab.js';
import { uniquePrefix } from '../support/subnet-fixtures.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { formatCidr, parseCidr } from '../../src/net/ipv4.js';
import { formatCidr6, parseCidr6 } from '../../src/net/ipv6.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import type { LeaseRegistry } from '../../src/subnet/registry.js';

const skip = etcdAvailable() ? false : 'etcd/etcdctl not installed (apt-get install etcd-server etcd-client)';
const DUAL = parseNetworkConfig('{"Network":"10.21.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:21::/56","Backend":{"Type":"alloc"}}');
const RIVAL_KEY = '10.21.9.0-24&fd00:21:0:a::-64';
const RIVAL = '{"PublicIP":"192.0.2.91","PublicIPv6":"2001:db8::91","BackendType":"alloc"}';

describe('a dual-stack create race on one half (real etcd)', { skip }, () => {
  const lab = leaseLab();

  it('the host that created second steps back and leases another IPv4 subnet; the first keeps its key', async () => {
    const prefix = uniquePrefix();
    const real = new SubnetRegistry(lab.client, prefix, lab.rec.log);
    let rivalWritten = false;
    // The rival's key lands between our list and our create, as a host starting at the same instant does.
    const registry = new Proxy(real, {
      get(target, name, receiver) {
        if (name !== 'createLease') return Reflect.get(target, name, receiver) as unknown;
        return async (...args: Parameters<LeaseRegistry['createLease']>) => {
          if (!rivalWritten) {
            rivalWritten = true;
            await etcdctl(lab.etcd.clientUrl, ['put', `${prefix}/subnets/${RIVAL_KEY}`, RIVAL]);
          }
          return target.createLease(...args);
        };
      },
    });
    const m = lab.manager(prefix, DUAL, { publicIP: '192.0.2.7', publicIPv6: '2001:db8::7', backendType: 'alloc' },
      { registry, previousSubnet: parseCidr('10.21.9.0/24'), previousIPv6Subnet: parseCidr6('fd00:21:0:9::/64') });
    const lease = await m.acquire();
    assert.ok(rivalWritten, 'the rival key was written inside the race window');
    assert.notEqual(formatCidr(lease.subnet), '10.21.9.0/24', 'we stepped back from the IPv4 half the rival created first');
    assert.notEqual(formatCidr6(lease.ipv6Subnet!), 'fd00:21:0:a::/64');
    const keys = (await etcdctl(lab.etcd.clientUrl, ['get', '--prefix', '--keys-only', `${prefix}/subnets/`]))
      .split('\n').filter((l) => l !== '').map((k) => k.slice(`${prefix}/subnets/`.length)).sort();
    assert.equal(keys.length, 2, `one key per host, got ${keys.join(', ')}`);
    assert.ok(keys.includes(RIVAL_KEY), 'the rival keeps its key');
    assert.ok(lab.rec.messages().some((m) => /sharing half of this dual-stack subnet first/.test(m)));
  });
});
