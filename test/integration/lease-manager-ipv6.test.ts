// Dual-stack leases against a real etcd member on loopback: keys and values as upstream v0.28.9 writes them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAvailable, etcdctl } from '../support/etcd.js';
import { leaseLab } from '../support/lease-lab.js';
import { uniquePrefix } from '../support/subnet-fixtures.js';
import { LeaseManager, type LeaseManagerOptions } from '../../src/subnet/lease-manager.js';
import { parseNetworkConfig } from '../../src/config/parse.js';
import { subnetKey } from '../../src/subnet/codec.js';
import { formatCidr6, nets6Overlap, parseCidr6 } from '../../src/net/ipv6.js';
import { parseCidr } from '../../src/net/ipv4.js';
import type { NetworkConfig } from '../../src/config/network-config.js';
import type { Lease } from '../../src/subnet/lease.js';

const skip = etcdAvailable() ? false : 'etcd/etcdctl not installed (apt-get install etcd-server etcd-client)';

const DUAL: NetworkConfig = parseNetworkConfig('{"Network":"10.20.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:20::/56","Backend":{"Type":"alloc"}}');

describe('dual-stack leases (real etcd)', { skip }, () => {
  const lab = leaseLab();

  const manager = (prefix: string, publicIP: string, extra: Partial<LeaseManagerOptions> = {}): LeaseManager =>
    lab.manager(prefix, DUAL, { publicIP, publicIPv6: publicIP.replace('192.0.2.', '2001:db8::'), backendType: 'alloc' }, extra);

  async function keys(prefix: string): Promise<Map<string, string>> {
    const out = await etcdctl(lab.etcd.clientUrl, ['get', '--prefix', `${prefix}/subnets/`]);
    const lines = out.split('\n').filter((l) => l !== '');
    const map = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) map.set(lines[i]!.slice(`${prefix}/subnets/`.length), lines[i + 1]!);
    return map;
  }

  it('gives two hosts distinct v4 and v6 subnets under upstream\'s dual-stack keys and values', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([manager(prefix, '192.0.2.1').acquire(), manager(prefix, '192.0.2.2').acquire()]);
    assert.ok(a.ipv6Subnet && b.ipv6Subnet);
    assert.ok(!nets6Overlap(a.ipv6Subnet, b.ipv6Subnet));
    const kv = await keys(prefix);
    assert.deepEqual([...kv.keys()].sort(), [subnetKey(a.subnet, a.ipv6Subnet), subnetKey(b.subnet, b.ipv6Subnet)].sort());
    assert.match([...kv.keys()][0]!, /^10\.20\.\d+\.0-24&fd00:20:0:[0-9a-f]+::-64$/);
    assert.equal(kv.get(subnetKey(a.subnet, a.ipv6Subnet)), '{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"alloc"}');
  });

  it('a restarted host gets its dual-stack lease back, and renewals keep writing the dual-stack key', async () => {
    const prefix = uniquePrefix();
    const first = await manager(prefix, '192.0.2.5').acquire();
    const again = manager(prefix, '192.0.2.5', { ttlSeconds: 3 });
    const lease = await again.acquire();
    assert.equal(formatCidr6(lease.ipv6Subnet!), formatCidr6(first.ipv6Subnet!));
    again.keep();
    const renewed = await new Promise<Lease>((resolve) => again.once('renewed', resolve));
    assert.equal(formatCidr6(renewed.ipv6Subnet!), formatCidr6(first.ipv6Subnet!));
    assert.deepEqual([...(await keys(prefix)).keys()], [subnetKey(first.subnet, first.ipv6Subnet)], 'no IPv4-only twin key');
  });

  it('reuses the previous pair from subnet.env, and skips v6 subnets held by a v4+v6 lease of upstream', async () => {
    const prefix = uniquePrefix();
    await etcdctl(lab.etcd.clientUrl, ['put', `${prefix}/subnets/10.20.1.0-24&fd00:20:0:1::-64`,
      '{"PublicIP":"192.0.2.60","PublicIPv6":"2001:db8::60","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"},"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:02"}}']);
    const prev = manager(prefix, '192.0.2.7', { previousSubnet: parseCidr('10.20.9.0/24'), previousIPv6Subnet: parseCidr6('fd00:20:0:9::/64') });
    const l = await prev.acquire();
    assert.equal(subnetKey(l.subnet, l.ipv6Subnet), '10.20.9.0-24&fd00:20:0:9::-64');
    const taken = manager(prefix, '192.0.2.8', { previousSubnet: parseCidr('10.20.2.0/24'), previousIPv6Subnet: parseCidr6('fd00:20:0:1::/64') });
    const t = await taken.acquire();
    assert.notEqual(formatCidr6(t.ipv6Subnet!), 'fd00:20:0:1::/64', 'the v6 subnet of upstream\'s lease is not handed out twice');
  });
});
